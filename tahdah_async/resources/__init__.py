"""One thin class per API area: validate the arguments, name the route, decode the reply."""

from .candidates import Candidates
from .digital_badges import DigitalBadges
from .event_credits import EventCredits
from .learning_experiences import LearningExperiences
from .legal_entities import LegalEntities
from .pathways import Pathways
from .tracker import Tracker
from .trust_groups import TrustGroups

__all__ = [
    "Candidates",
    "DigitalBadges",
    "EventCredits",
    "LearningExperiences",
    "LegalEntities",
    "Pathways",
    "Tracker",
    "TrustGroups",
]
