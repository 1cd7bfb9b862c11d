"""Offline-first chat with your documents: cited answers, honest refusals.

from assistant import Assistant
a = Assistant()
a.ingest("seeds")
print(a.ask("Has Trump authorized the strikes?").answer)
"""

import os

__version__ = "0.2.0"

#: The environment every entry point needs, set once here because importing any part of the
#: package runs this first, before torch, transformers, xllamacpp, chromadb or gradio load.
#: Offline: no hub lookups, no telemetry. OMP_WAIT_POLICY: llama.cpp's OpenMP threads spin while
#: waiting, which starved the embedder and web server on 2 busy cores (~15 -> ~1 tok/s); libgomp
#: reads it only when first loaded. A user's own values win (setdefault).
ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "ANONYMIZED_TELEMETRY": "False",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "OMP_WAIT_POLICY": "PASSIVE",
}
for _name, _value in ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

from .core import Assistant  # noqa: E402
from .phrases import REFUSAL  # noqa: E402
from .schema import Answer, Citation, Passage  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["__version__", "Assistant", "Answer", "Citation", "Passage", "Settings", "REFUSAL"]
