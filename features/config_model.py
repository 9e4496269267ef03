"""The base of every config model: frozen, strict, and readable from older pickles.

Unknown keys fail (``extra="forbid"``), so a typo never silently falls back to a default, and
a config cannot change once parsed (``frozen``), so what was validated is what runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        """Read the fields again on unpickling: a model pickled before durations were typed
        holds their text as plain strings, and still loads (with typed durations)."""
        super().__setstate__(state)
        fresh = type(self).model_validate(self.model_dump(mode="json", warnings=False))
        object.__setattr__(self, "__dict__", fresh.__dict__)
