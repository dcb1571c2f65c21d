"""Tiny randomly initialised BERT models, built in a test and saved where the code under test loads them
from: a cross-encoder (RAG_RERANKER) and a sentence-transformers embedder with prompts (RAG_MODEL)."""

from __future__ import annotations

from pathlib import Path

WORDS = "query passage the a of and to in russia asean lavrov trade said we our is minister foreign".split()  # noqa: SIM905


def _bert(directory: Path, sequence_classification: bool) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizerFast

    torch.manual_seed(0)
    directory.mkdir(parents=True)
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ":", *WORDS]) + "\n")
    config = BertConfig(
        vocab_size=len(vocab.read_text().split()),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        num_labels=1,
    )
    model = BertForSequenceClassification(config) if sequence_classification else BertModel(config)
    model.save_pretrained(directory)
    BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True).save_pretrained(directory)


def cross_encoder(directory: Path) -> Path:
    """A cross-encoder that sentence_transformers.CrossEncoder loads: one score per (question, passage)."""
    _bert(directory, sequence_classification=True)
    return directory


def prompted_embedder(directory: Path, prompts: dict[str, str]) -> Path:
    """A sentence-transformers model (BERT, mean pooling) whose config carries these prompts."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    _bert(directory / "bert", sequence_classification=False)
    transformer = Transformer(str(directory / "bert"), max_seq_length=256)
    pooling = Pooling(transformer.get_embedding_dimension(), "mean")
    SentenceTransformer(modules=[transformer, pooling], prompts=prompts, device="cpu").save(str(directory / "st"))
    return directory / "st"
