"""DQN training in torch: the Q-network, its target copy, the optimiser and one gradient step.

Imported lazily by :class:`pricepilot.policies.dqn.DQN` when it trains; deciding never imports torch.
The network's parameters are laid out exactly as :mod:`pricepilot.policies.mlp` reads them, and the
bootstrap values and TD targets are the pure numpy functions of :mod:`pricepilot.policies.td`, so the
trained network is served by a numpy forward pass that gives the same Q-values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from pricepilot.policies.mlp import layer_shapes
from pricepilot.policies.td import (
    ReplayBuffer,
    ReplaySample,
    continuation_target,
    double_next_values,
    max_next_values,
    sale_scale_targets,
    td_target,
)
from pricepilot.types import FloatArray

if TYPE_CHECKING:
    from pricepilot.policies.dqn import DQNConfig


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous setting.

    Small networks train fastest on one thread; more threads only contend on a busy machine.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class QNetwork(nn.Module):
    """ReLU MLP from observations (n, d) to Q-values (n, n_actions); optionally a dueling, value-weighted
    or purchase-decomposed head (see :mod:`pricepilot.policies.mlp`).

    The input is standardised first, ``(x - shift) * scale`` (buffers, not parameters; the identity
    until :meth:`set_standardisation`); :meth:`folded_flat` folds it into the first layer, so the
    numpy forward pass of :mod:`pricepilot.policies.mlp` serves the exported vector unchanged.
    """

    shift: torch.Tensor
    scale: torch.Tensor

    def __init__(
        self,
        n_inputs: int,
        hidden_sizes: tuple[int, ...],
        n_actions: int,
        dueling: bool,
        value_weighted: bool = False,
        purchase_head: bool = False,
    ) -> None:
        super().__init__()
        shapes = layer_shapes(n_inputs, hidden_sizes, n_actions, dueling, value_weighted, purchase_head)
        n_heads = 2 if dueling else 1
        self.dueling = dueling
        self.value_weighted = value_weighted
        self.purchase_head = purchase_head
        self.n_actions = n_actions
        self.hidden = nn.ModuleList(nn.Linear(i, o) for o, i in shapes[:-n_heads])
        self.heads = nn.ModuleList(nn.Linear(i, o) for o, i in shapes[-n_heads:])
        self.register_buffer("shift", torch.zeros(n_inputs))
        self.register_buffer("scale", torch.ones(n_inputs))

    def set_standardisation(self, shift: FloatArray, scale: FloatArray) -> None:
        """Standardise inputs as ``(x - shift) * scale`` from now on (both of shape (n_inputs,))."""
        with torch.no_grad():
            self.shift.copy_(torch.as_tensor(shift, dtype=torch.float32))
            self.scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def folded_flat(self) -> FloatArray:
        """The flat parameters (as :func:`get_flat`) with the input standardisation folded into the
        first layer: ``W' = W * scale``, ``b' = b - W' @ shift``; the same function of raw inputs."""
        flat = get_flat(self)
        first = self.hidden[0] if len(self.hidden) else self.heads[0]
        if not isinstance(first, nn.Linear):  # pragma: no cover - the layers are built above
            raise TypeError("the first layer must be linear")
        w = first.weight.detach().numpy().astype(np.float64)
        b = first.bias.detach().numpy().astype(np.float64)
        scale = self.scale.numpy().astype(np.float64)
        shift = self.shift.numpy().astype(np.float64)
        w_folded = w * scale[None, :]
        flat[: w.size] = w_folded.ravel()
        flat[w.size : w.size + b.size] = b - w_folded @ shift
        return flat

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations of raw inputs ``x`` (standardised first)."""
        x = (x - self.shift) * self.scale
        for layer in self.hidden:
            x = functional.relu(layer(x))
        return x

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A purchase-decomposed head's outputs: purchase logits (n, k), continuations (n, k) and the
        log price scale (n, 1) (:func:`pricepilot.policies.mlp.purchase_decomposed`)."""
        if not self.purchase_head:
            raise ValueError("parts() needs a purchase-decomposed head (purchase_head=True)")
        out: torch.Tensor = self.heads[0](self._features(x))
        k = self.n_actions
        return out[:, :k], out[:, k : 2 * k], out[:, 2 * k :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = x[:, -self.n_actions :]
        if self.purchase_head:
            logits, continuation, log_scale = self.parts(x)
            decomposed: torch.Tensor = torch.exp(log_scale) * torch.sigmoid(logits) * values + continuation
            return decomposed
        x = self._features(x)
        if self.dueling:
            value, advantage = self.heads[0](x), self.heads[1](x)
            aggregated: torch.Tensor = value + advantage - advantage.mean(dim=1, keepdim=True)
            return aggregated
        out: torch.Tensor = self.heads[0](x)
        if self.value_weighted:
            k = self.n_actions
            weighted: torch.Tensor = values * out[:, :k] + out[:, k:]
            return weighted
        return out


def get_flat(module: nn.Module) -> FloatArray:
    """The module's parameters in registration order, flattened to one float64 vector."""
    return np.concatenate([p.detach().cpu().numpy().ravel() for p in module.parameters()]).astype(np.float64)


def set_flat(module: nn.Module, params: FloatArray) -> None:
    """Copy a flat vector (as :func:`get_flat` writes it) into the module's parameters."""
    expected = sum(p.numel() for p in module.parameters())
    if params.shape != (expected,):
        raise ValueError(f"the network has {expected} parameters, got a vector of shape {params.shape}")
    at = 0
    with torch.no_grad():
        for p in module.parameters():
            n = p.numel()
            p.copy_(torch.from_numpy(np.asarray(params[at : at + n])).view_as(p))
            at += n


class DQNTrainer:
    """Online and target networks, Adam, and the replay buffer of one DQN policy.

    Parameters
    ----------
    config : DQNConfig
    n_inputs, n_actions : observation length and number of actions
    params, target_params : ndarray, flat weights to start from (empty: fresh initialisation)
    seed : int, seeds torch's initialisation (inside ``torch.random.fork_rng``, so the caller's torch
        random state is left as it was)
    """

    def __init__(
        self,
        config: DQNConfig,
        n_inputs: int,
        n_actions: int,
        params: FloatArray,
        target_params: FloatArray,
        seed: int,
    ) -> None:
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.online, self.target = (
                QNetwork(
                    n_inputs,
                    config.hidden_sizes,
                    n_actions,
                    config.dueling,
                    config.value_weighted,
                    config.purchase_head,
                )
                for _ in range(2)
            )
        if params.size:
            set_flat(self.online, params)
        set_flat(self.target, target_params if target_params.size else get_flat(self.online))
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=config.learning_rate)
        self.buffer = ReplayBuffer(config.buffer_size, n_inputs)
        self.standardised = bool(params.size)  # trained weights already hold any standardisation

    def threads(self) -> contextlib.AbstractContextManager[None]:
        """Context in which to train: ``config.torch_threads`` intra-op threads."""
        return torch_threads(self.config.torch_threads)

    def q_values(self, obs: FloatArray) -> FloatArray:
        """Online Q-values of observations (n, d), shape (n, n_actions), in scaled reward units."""
        with torch.no_grad():
            q = self.online(torch.as_tensor(obs, dtype=torch.float32))
        return np.asarray(q.numpy(), dtype=np.float64)

    def next_values(self, next_obs: FloatArray) -> FloatArray:
        """Bootstrap values ``V(s')`` of next observations (n, d), shape (n,): the target network's
        maximum, or with ``config.double`` its value of the online network's best action."""
        x = torch.as_tensor(next_obs, dtype=torch.float32)
        with torch.no_grad():
            q_next_target = self.target(x).numpy().astype(np.float64)
            if not self.config.double:
                return max_next_values(q_next_target)
            q_next_online = self.online(x).numpy().astype(np.float64)
        return double_next_values(q_next_online, q_next_target)

    def _regression(self, chosen: torch.Tensor, targets: FloatArray) -> torch.Tensor:
        target = torch.as_tensor(targets, dtype=torch.float32)
        if self.config.loss == "huber":
            return functional.smooth_l1_loss(chosen, target)
        return functional.mse_loss(chosen, target)

    def decomposed_loss(self, batch: ReplaySample) -> torch.Tensor:
        """Loss of a purchase-decomposed network on a minibatch: binary cross-entropy of the chosen
        action's purchase logit against the observed purchase, the regression (``config.loss``) of its
        continuation on :func:`~pricepilot.policies.td.continuation_target`, and the squared error of the
        log price scale on :func:`~pricepilot.policies.td.sale_scale_targets` over the sales."""
        cfg = self.config
        actions = torch.as_tensor(batch.actions)[:, None]
        targets = continuation_target(self.next_values(batch.next_obs), batch.terminated, cfg.gamma)
        chosen_values = batch.obs[
            np.arange(batch.actions.size), batch.obs.shape[1] - self.online.n_actions + batch.actions
        ]
        scale_targets, sold = sale_scale_targets(batch.rewards, chosen_values, batch.purchased)
        logits, continuation, log_scale = self.online.parts(torch.as_tensor(batch.obs, dtype=torch.float32))
        purchase = functional.binary_cross_entropy_with_logits(
            logits.gather(1, actions).squeeze(1), torch.as_tensor(batch.purchased, dtype=torch.float32)
        )
        loss = purchase + self._regression(continuation.gather(1, actions).squeeze(1), targets)
        if sold.any():
            mask = torch.as_tensor(sold)
            scale_target = torch.as_tensor(scale_targets[sold], dtype=torch.float32)
            loss = loss + functional.mse_loss(log_scale.squeeze(1)[mask], scale_target)
        return loss

    def train_step(self, rng: np.random.Generator) -> float:
        """One gradient step on a uniform minibatch; returns the loss (``config.loss``, or for a
        purchase-decomposed network :meth:`decomposed_loss`)."""
        cfg = self.config
        batch = self.buffer.sample(cfg.batch_size, rng)
        if cfg.purchase_head:
            loss = self.decomposed_loss(batch)
        else:
            next_values = self.next_values(batch.next_obs)
            targets = td_target(batch.rewards, next_values, batch.terminated, cfg.gamma, batch.n_steps)
            q = self.online(torch.as_tensor(batch.obs, dtype=torch.float32))
            loss = self._regression(q.gather(1, torch.as_tensor(batch.actions)[:, None]).squeeze(1), targets)
        self.optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(self.online.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        return float(loss.item())

    def standardise_inputs(self) -> None:
        """Standardise the networks' inputs by the mean and sd of the observations now in the buffer.

        Columns that do not vary (sd below 1e-6) are only centred. Call it before the first gradient
        step: it changes the function the (untrained) networks compute.
        """
        obs = self.buffer.obs[: len(self.buffer)].astype(np.float64)
        if obs.shape[0] == 0:
            raise ValueError("cannot standardise inputs on an empty replay buffer")
        mean, sd = obs.mean(axis=0), obs.std(axis=0)
        scale = np.where(sd > 1e-6, 1.0 / np.maximum(sd, 1e-6), 1.0)
        for net in (self.online, self.target):
            net.set_standardisation(mean, scale)
        self.standardised = True

    def set_learning_rate(self, learning_rate: float) -> None:
        """Set Adam's step size (for an annealed schedule)."""
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

    def sync_target(self) -> None:
        """``target <- tau * online + (1 - tau) * target`` (``tau = 1``: a hard copy)."""
        tau = self.config.tau
        with torch.no_grad():
            for t, o in zip(self.target.parameters(), self.online.parameters(), strict=True):
                t.mul_(1.0 - tau).add_(o, alpha=tau)

    def export(self) -> tuple[FloatArray, FloatArray]:
        """Flat float64 weights of the online and target networks, input standardisation folded in."""
        return self.online.folded_flat(), self.target.folded_flat()
