"""Score models: the protocol every composed model satisfies, and adapters from common parametrisations."""

from superdiff.models.adapters import from_epsilon, from_x0
from superdiff.models.protocol import ScoreModel

__all__ = ["ScoreModel", "from_epsilon", "from_x0"]
