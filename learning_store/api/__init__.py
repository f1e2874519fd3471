"""The async façade orchestrators call: `LearningDatabase`, composed of small collaborators.

`database` holds the one class; `writes` embeds and stores batches, `original` shapes the
original system's documented dicts, `advice` asks the advice layer with embedded tasks.
None of them imports the façade.
"""

from learning_store.api.database import LearningDatabase

__all__ = ["LearningDatabase"]
