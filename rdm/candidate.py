"""A candidate: one way to code the video — the finetuning phase and step it comes from, whether
unpaid leaves of δ̂ were dropped — with the θ to code it with and the δ̂ the receiver needs.

Result files record phase, step and pruned beside the label; no reader parses the label.
"""
import dataclasses
from typing import Any

from rdm import model_update

PHASES = ('none', 'latents', 'encoder', 'joint')


@dataclasses.dataclass(frozen=True)
class Candidate:
  phase: str  # one of PHASES: 'encoder' holds θ_D's own encoder at step 0
  step: int  # steps of its phase behind it
  params: Any  # θ to code with: the finetuned encoder and θ_D + δ̂ (as the receiver rebuilds it)
  update: model_update.ModelUpdate | None  # None: θ_D's receiver side as is
  pruned: bool = False  # without the leaves of δ̂ that did not pay for themselves (rdm.prune)

  @property
  def label(self) -> str:
    """How tables and logs name it: 'encoder@200', 'joint@400-pruned', 'none'."""
    if self.phase in ('none', 'latents'):
      return self.phase
    return f'{self.phase}@{self.step}' + ('-pruned' if self.pruned else '')

  def fields(self) -> dict:
    """What a result file records of it."""
    return {'label': self.label, 'phase': self.phase, 'step': self.step, 'pruned': self.pruned}
