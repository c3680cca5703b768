"""Imports every domain's models so that Base.metadata knows all tables (Alembic, tests)."""
from effigies.accounts import models as accounts_models  # noqa: F401
from effigies.avatars import models as avatars_models  # noqa: F401
from effigies.billing import models as billing_models  # noqa: F401
from effigies.generation import models as generation_models  # noqa: F401
from effigies.themes import models as themes_models  # noqa: F401
from effigies.training import models as training_models  # noqa: F401
from effigies.uniqueness import models as uniqueness_models  # noqa: F401
from effigies.db import Base

metadata = Base.metadata
