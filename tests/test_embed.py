"""Embedding backends: ONNX exports built once from the installed model, the same vectors as PyTorch, a
backend chosen for the CPU it runs on, a fallback when one fails, and a change of backend re-embeds."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from rag.config import Settings
from rag.embed import QUANTISATIONS, Cpu, Embedder, choose_backend, choose_device
from rag.errors import RagError
from rag.index.store import current_generation
from rag.service import Service
from tests.conftest import DOCS

MODEL = "all-MiniLM-L6-v2"

# Flag sets as /proc/cpuinfo gives them (abridged) on each kind of machine a user has.
CPUINFO = {
    "amd-epyc-avx2": (
        "x86_64",
        "flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni",
    ),
    "skylake-avx512": (
        "x86_64",
        "flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl",
    ),
    "icelake-vnni": (
        "x86_64",
        "flags\t\t: fpu sse4_2 avx avx2 avx512f avx512bw avx512vl avx512_vnni avx512_vbmi2",
    ),
    "alderlake-avx-vnni": ("x86_64", "flags\t\t: fpu sse4_2 avx avx2 fma avx_vnni"),
    "old-x86": ("x86_64", "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx"),
    "graviton-arm64": ("aarch64", "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp"),
    "apple-arm64": ("arm64", ""),
}


@pytest.mark.parametrize(
    ("kind", "quantisation", "auto"),
    [
        ("amd-epyc-avx2", "avx2", "onnx"),
        ("skylake-avx512", "avx512", "onnx"),
        ("icelake-vnni", "avx512_vnni", "onnx-int8"),
        ("alderlake-avx-vnni", "avx2", "onnx"),
        ("old-x86", None, "onnx"),
        ("graviton-arm64", "arm64", "onnx"),
        ("apple-arm64", "arm64", "onnx"),
    ],
)
def test_the_cpu_decides_the_int8_config_and_the_default_backend(kind, quantisation, auto):
    machine, cpuinfo = CPUINFO[kind]
    cpu = Cpu.from_cpuinfo(f"processor\t: 0\n{cpuinfo}\n", machine)
    assert cpu.quantisation == quantisation
    choice = choose_backend("auto", cpu)
    assert choice.backend == auto
    assert choice.quantisation == (quantisation if auto == "onnx-int8" else None)
    assert choose_backend("onnx-int8", cpu).quantisation == quantisation  # int8 asked for explicitly


def test_an_existing_index_keeps_the_backend_and_int8_config_it_was_built_with():
    avx2_only = Cpu.from_cpuinfo(CPUINFO["amd-epyc-avx2"][1], "x86_64")
    built_on_vnni = ("onnx-int8", "avx512_vnni")
    assert choose_backend("auto", avx2_only, built_on_vnni).quantisation == "avx512_vnni"
    assert choose_backend("onnx-int8", avx2_only, built_on_vnni).quantisation == "avx512_vnni"
    assert choose_backend("onnx", avx2_only, built_on_vnni).backend == "onnx"  # asked: it will re-embed
    vnni = Cpu.from_cpuinfo(CPUINFO["icelake-vnni"][1], "x86_64")
    assert choose_backend("auto", vnni, ("onnx", None)).backend == "onnx"


def test_the_device_is_the_gpu_when_torch_sees_one_unless_the_index_was_built_on_the_cpu():
    yes, no = (lambda: True), (lambda: False)
    assert choose_device("auto", None, yes, no)[0] == "cuda"
    assert choose_device("auto", ("torch", None), yes, no)[0] == "cuda"
    assert choose_device("auto", ("onnx-int8", "avx512_vnni"), yes, no) == (
        "cpu", "the index was built on the CPU with onnx-int8"
    )
    assert choose_device("auto", None, no, yes)[0] == "cpu"  # auto never picks Metal: it is asked for
    assert choose_device("mps", None, no, yes)[0] == "mps"
    assert choose_device("cpu", None, yes, yes)[0] == "cpu"
    with pytest.raises(RagError, match=r"RAG_DEVICE=cuda, but torch sees no CUDA device: set") as error:
        choose_device("cuda", None, no, no)
    assert "\n" not in str(error.value)


def test_a_gpu_gets_bigger_batches_and_this_cpu_its_own(monkeypatch, tmp_path):
    cpu = Embedder(MODEL, 32, "auto", tmp_path, device="auto")
    monkeypatch.setattr("rag.embed._cuda", lambda: False)
    assert (cpu.device, cpu.batch_size) == ("cpu", 32)
    monkeypatch.setattr("rag.embed._cuda", lambda: True)
    gpu = Embedder(MODEL, 32, "auto", tmp_path, device="auto")
    assert (gpu.device, gpu.batch_size) == ("cuda", 128)
    assert Embedder(MODEL, 256, "auto", tmp_path, device="cuda").batch_size == 256
    assert Embedder.from_settings(Settings(device="cpu", index_dir=tmp_path)).device == "cpu"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def passages(seed_service) -> list[str]:
    return [text for _, text in seed_service.retriever.all_chunks()]


@pytest.fixture(scope="module")
def torch_vectors(passages, cache) -> np.ndarray:
    return Embedder(MODEL, 32, "torch", cache).encode(passages)


@pytest.mark.slow
def test_onnx_float32_matches_torch_on_the_seed_passages(passages, torch_vectors, cache):
    vectors = Embedder(MODEL, 32, "onnx", cache).encode(passages)
    assert np.sum(vectors * torch_vectors, axis=1).min() >= 0.9999
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("config", QUANTISATIONS)
def test_every_int8_config_exports_loads_and_stays_close_to_float32(config, passages, torch_vectors, cache):
    embedder = Embedder(MODEL, 32, "onnx-int8", cache, quantisation=config)
    vectors = embedder.encode(passages)
    assert (embedder.backend, embedder.quantisation) == ("onnx-int8", config)
    (export,) = (cache / "onnx").glob(f"*-int8-{config}")
    written = json.loads((export / "export.json").read_text())["file"]
    # The exporter names the file after the weights' type: avx2 quantises to unsigned int8.
    assert written == f"onnx/model_{'quint8' if config == 'avx2' else 'qint8'}_{config}.onnx"
    cosines = np.sum(vectors * torch_vectors, axis=1)
    assert cosines.min() >= 0.97, f"{config}: min cosine {cosines.min():.4f}"


@pytest.mark.slow
def test_the_onnx_export_is_cached_and_built_once(passages, cache, caplog):
    Embedder(MODEL, 32, "onnx-int8", cache, quantisation="avx512").encode(passages[:2])  # built by now
    (export,) = (cache / "onnx").glob("*-int8-avx512")
    stamp = export.stat().st_mtime_ns
    with caplog.at_level("WARNING"):
        Embedder(MODEL, 32, "onnx-int8", cache, quantisation="avx512").encode(passages[:2])
    assert "exporting" not in caplog.text and export.stat().st_mtime_ns == stamp
    assert not list((cache / "onnx").glob(".export-*"))  # nothing half-written is left behind


@pytest.mark.slow
def test_a_cpu_without_int8_kernels_falls_back_to_float32_with_one_warning(cache, caplog):
    old_x86 = Cpu.from_cpuinfo(CPUINFO["old-x86"][1], "x86_64")
    embedder = Embedder(MODEL, 32, "onnx-int8", cache, cpu=old_x86)
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        embedder.encode(["Refugees have begun returning home."])
    assert (embedder.backend, embedder.quantisation) == ("onnx", None)
    (warning,) = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert "onnx-int8" in warning and "no int8 kernels" in warning and warning.endswith("using onnx")


@pytest.mark.slow
def test_a_broken_int8_export_falls_back_and_the_manifest_records_what_ran(tmp_path, cache, caplog):
    own_cache = tmp_path / "cache"
    Embedder(MODEL, 32, "onnx-int8", own_cache, quantisation="avx512").encode(["warm"])
    (export,) = (own_cache / "onnx").glob("*-int8-avx512")
    (export / json.loads((export / "export.json").read_text())["file"]).write_bytes(b"not a model")
    embedder = Embedder(MODEL, 32, "onnx-int8", own_cache, quantisation="avx512")
    service = Service(Settings(index_dir=tmp_path / "index", docs_dir=DOCS, cache_dir=own_cache), embedder)
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        service.ingest()
    assert embedder.backend == "onnx" and "using onnx" in caplog.text
    manifest = json.loads((current_generation(tmp_path / "index") / "manifest.json").read_text())
    assert (manifest["backend"], manifest["quantisation"]) == ("onnx", None)


@pytest.mark.slow
def test_a_model_that_loads_nowhere_says_what_to_do_in_one_line(tmp_path):
    embedder = Embedder(str(tmp_path / "no-such-model"), 32, "auto", tmp_path / "cache")
    with pytest.raises(RagError) as failure:
        embedder.encode(["anything"])
    message = str(failure.value)
    assert "\n" not in message and "RAG_MODEL" in message and "rag doctor" in message
    assert all(backend in message for backend in ("onnx:", "torch:"))


@pytest.mark.slow
def test_auto_keeps_the_backend_an_index_was_built_with(tmp_path, cache):
    settings = {"index_dir": tmp_path / "index", "docs_dir": DOCS, "cache_dir": cache}
    Service(Settings(backend="onnx", **settings)).ingest()
    service = Service(Settings(backend="auto", **settings))
    report = service.ingest()
    assert service.embedder.backend == "onnx"
    assert report.embedded == 0 and report.rebuild_reason is None
    assert service.search("refugees returning to Syria", k=1)[0].doc_id == "000_81888bb7363425ad"


@pytest.mark.slow
def test_changing_the_backend_reembeds_the_index(tmp_path, cache, embedder):
    settings = {"index_dir": tmp_path / "index", "docs_dir": DOCS, "cache_dir": cache}
    first = Service(Settings(backend="torch", **settings), Embedder(MODEL, 32, "torch", cache))
    first.ingest()
    second = Service(Settings(backend=embedder.backend, **settings), embedder)
    report = second.ingest()
    assert f"backend changed from 'torch' to '{embedder.backend}'" in report.rebuild_reason
    assert report.embedded == report.chunks == 113
    manifest = json.loads((current_generation(tmp_path / "index") / "manifest.json").read_text())
    assert (manifest["backend"], manifest["quantisation"]) == (embedder.backend, embedder.quantisation)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_model_with_prompts_encodes_questions_and_passages_with_them(tmp_path, cache, backend):
    from sentence_transformers import SentenceTransformer

    from tests.tiny_models import prompted_embedder

    model = prompted_embedder(tmp_path / "model", {"query": "query: ", "document": "passage: "})
    embedder = Embedder(str(model), 8, backend, cache)  # type: ignore[arg-type]
    texts = ["Lavrov said trade is the minister of trade", "the foreign minister"]
    plain = SentenceTransformer(str(model), device="cpu")
    for role, prompt in (("query", "query: "), ("document", "passage: ")):
        expected = plain.encode([prompt + t for t in texts], prompt="", normalize_embeddings=True)
        assert np.allclose(embedder.encode(texts, role=role), expected, atol=1e-5)
    assert embedder.backend == backend  # no silent fallback: the prompts are applied on this backend
    unprompted = plain.encode(texts, prompt="", normalize_embeddings=True)
    assert not np.allclose(embedder.encode(texts, role="query"), unprompted, atol=1e-3)


@pytest.mark.slow
def test_the_manifest_records_the_prompts_and_changing_them_rebuilds(tmp_path, cache):
    from tests.tiny_models import prompted_embedder

    model = prompted_embedder(tmp_path / "model", {"query": "query: ", "document": "passage: "})
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "talk.txt").write_text("Sergey Lavrov: Trade between Russia and ASEAN is growing.\n")
    settings = Settings(index_dir=tmp_path / "index", docs_dir=docs, cache_dir=cache, model=str(model),
                        backend="torch", chunk_max_tokens=64)
    Service(settings).ingest()
    manifest = json.loads((current_generation(tmp_path / "index") / "manifest.json").read_text())
    assert manifest["prompts"] == {"query": "query: ", "document": "passage: "}
    config = model / "config_sentence_transformers.json"
    data = json.loads(config.read_text())
    config.write_text(json.dumps(data | {"prompts": {"query": "Represent this question: ", "document": ""}}))
    report = Service(settings).ingest()
    assert "prompts changed" in report.rebuild_reason and report.embedded == report.chunks
    assert Service(settings).search("trade with ASEAN", k=1)[0].doc_id == "talk"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_one_pass_gives_the_passage_its_own_vector_and_each_sentence_its_own_words(backend, cache):
    """Late chunking: the passage's vector is the model's own, and each sentence's (its tokens pooled in
    the passage's context) is nearer its own words than its neighbour's; a span no token falls in (cut
    by the window) takes the passage's vector."""
    embedder = Embedder(MODEL, 32, backend, cache)
    first, second = "We discussed trade with ASEAN partners.", "The weather in Moscow was very cold."
    text = f"{first} {second}"
    spans = [(0, len(first)), (len(first) + 1, len(text)), (len(text) + 50, len(text) + 60)]
    vectors, said = embedder.encode_passages([text, "Refugees are returning."], [spans, [(0, 8)]])
    assert np.abs(vectors - embedder.encode([text, "Refugees are returning."])).max() < 1e-5
    assert said is not None and said[0].shape == (3, embedder.dimension) and said[1].shape == (1, embedder.dimension)
    alone = embedder.encode([first, second])
    similarity = said[0][:2] @ alone.T
    assert similarity[0, 0] > similarity[0, 1] and similarity[1, 1] > similarity[1, 0]
    assert np.allclose(np.linalg.norm(said[0], axis=1), 1.0, atol=1e-4)
    assert np.allclose(said[0][2], vectors[0])
    assert embedder.encode_passages([text], None)[1] is None
