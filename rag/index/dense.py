"""Dense vectors in FAISS, addressed by the chunk's row id in SQLite.

Exact search (a flat index) while the index is small; an inverted-file index (IVF) from
`ann_threshold` vectors on, whose number of probed lists is calibrated when it is built so that its
top 10 agree with exact search on at least `target_recall` of their members. IVF rather than HNSW
because it supports deleting vectors in place, which every document delete and update needs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, cast

import faiss
import numpy as np

TARGET_RECALL = 0.99  # calibration target; the floor for real questions is 0.98
_CALIBRATION_QUERIES = 256
_RETRAIN_GROWTH = 4  # an IVF index is re-trained when it holds this many times what it was trained on
# How vectors are stored: float32 (passages), or 8 bits per dimension (sentences: several per passage),
# uniform over [-1, 1], the range of a normalised vector's components, fixed so that vectors added later
# are coded alike and none is clipped: a component is off by at most 1/255, a cosine by about 0.002.
Codec = Literal["float32", "sq8"]
SQ_RANGE = 1.0


class DenseIndex:
    """Inner-product search over normalised vectors (cosine similarity)."""

    def __init__(self, index: faiss.Index, calibration: dict[str, Any] | None = None) -> None:
        self.index = index
        self.calibration = calibration  # how the IVF index was calibrated when built (the manifest keeps it)

    @classmethod
    def empty(cls, dimension: int, codec: Codec = "float32") -> DenseIndex:
        return cls(_flat(dimension, codec))

    @property
    def codec(self) -> Codec:
        ivf = self.ivf
        inner = ivf if ivf is not None else cast(faiss.IndexIDMap2, self.index).index
        quantised = (faiss.IndexScalarQuantizer, faiss.IndexIVFScalarQuantizer)
        return "sq8" if isinstance(faiss.downcast_index(inner), quantised) else "float32"

    @classmethod
    def load(cls, path: Path, calibration: dict[str, Any] | None = None, mmap: bool = False) -> DenseIndex:
        """Read an index; with mmap, its vectors stay in the file (read-only, paged in on use)."""
        flags = faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY if mmap else 0
        return cls(faiss.read_index(str(path), flags), calibration)

    def close(self) -> None:
        """Free the index (and unmap its file when it was loaded with mmap)."""
        self.index = _flat(self.dimension, self.codec)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    @property
    def ivf(self) -> faiss.IndexIVF | None:
        return faiss.try_extract_index_ivf(self.index)

    @property
    def params(self) -> dict[str, Any]:
        """The index type and its parameters, as the manifest records them."""
        ivf, codec = self.ivf, self.codec
        if ivf is None:
            return {"type": "flat"} if codec == "float32" else {"type": "flat", "codec": codec}
        params = {
            "type": "ivf-flat",
            "nlist": ivf.nlist,
            "nprobe": ivf.nprobe,
            "calibration": self.calibration,
        }
        return params if codec == "float32" else params | {"codec": codec}

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray, rows: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), rows.astype(np.int64))

    def remove(self, rows: list[int]) -> None:
        if rows:
            self.index.remove_ids(np.asarray(rows, dtype=np.int64))  # type: ignore[arg-type]

    def search(
        self, vector: np.ndarray, depth: int, allowed: np.ndarray | None
    ) -> tuple[list[int], list[float]]:
        """The depth nearest rows (optionally only among `allowed`) and their cosine similarities.

        A filtered search on an IVF index probes every list, so that it is exact over the allowed rows
        and returns `depth` of them whenever that many exist.
        """
        depth = min(depth, len(self))
        if depth == 0:
            return [], []
        selector = faiss.IDSelectorBatch(allowed) if allowed is not None else None  # type: ignore[call-arg]
        if (ivf := self.ivf) is not None:
            nprobe = ivf.nlist if selector is not None else ivf.nprobe
            params: faiss.SearchParameters = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)  # type: ignore[call-arg]
        else:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
        scores, rows = self.index.search(vector.reshape(1, -1).astype(np.float32), depth, params=params)
        keep = rows[0] >= 0
        return rows[0][keep].tolist(), scores[0][keep].tolist()

    def fit(self, ann_threshold: int) -> None:
        """Switch index type to suit the size: flat below ann_threshold vectors, IVF from it on (built
        again when the index has outgrown the size its lists were made for)."""
        n, ivf = len(self), self.ivf
        if n < ann_threshold:
            if ivf is not None:
                vectors, rows = self.contents()
                self.index, self.calibration = _flat(self.dimension, self.codec), None
                self.add(vectors, rows)
        elif ivf is None or n > _RETRAIN_GROWTH * _trained_size(int(ivf.nlist)):
            self.index, self.calibration = _ivf(*self.contents(), self.codec)

    def contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every vector and its row, in storage order."""
        ivf = self.ivf
        if ivf is None:
            flat = cast(faiss.IndexIDMap2, self.index)
            ids = faiss.vector_to_array(flat.id_map).astype(np.int64)
            return flat.index.reconstruct_n(0, len(ids)), ids
        lists = ivf.invlists
        assert lists is not None
        vectors = [np.empty((0, self.dimension), dtype=np.float32)]
        rows = [np.empty(0, dtype=np.int64)]
        for i in range(ivf.nlist):
            if size := lists.list_size(i):
                rows.append(faiss.rev_swig_ptr(lists.get_ids(i), size).astype(np.int64))
                codes = faiss.rev_swig_ptr(lists.get_codes(i), size * lists.code_size)
                if isinstance(quantised := faiss.downcast_index(ivf), faiss.IndexIVFScalarQuantizer):
                    vectors.append(quantised.sq.decode(codes.reshape(size, -1).copy()))
                else:
                    vectors.append(codes.view(np.float32).reshape(size, -1).copy())
        return np.concatenate(vectors), np.concatenate(rows)


def _flat(dimension: int, codec: Codec = "float32") -> faiss.Index:
    if codec == "float32":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    sq = faiss.IndexScalarQuantizer(
        dimension, faiss.ScalarQuantizer.QT_8bit_uniform, faiss.METRIC_INNER_PRODUCT
    )
    sq.train(_sq_range(dimension))
    return faiss.IndexIDMap2(sq)


def _sq_range(dimension: int) -> np.ndarray:
    """The two vectors an 8-bit scalar quantiser is trained on: the fixed range of every component."""
    return np.array([[-SQ_RANGE] * dimension, [SQ_RANGE] * dimension], dtype=np.float32)


def _nlist(n: int) -> int:
    return max(1, min(65536, round(4 * math.sqrt(n))))


def _trained_size(nlist: int) -> int:
    """The number of vectors an IVF index with nlist lists was built for (the inverse of _nlist)."""
    return round((nlist / 4) ** 2)


def _ivf(
    vectors: np.ndarray, rows: np.ndarray, codec: Codec = "float32"
) -> tuple[faiss.IndexIVF, dict[str, Any]]:
    """An IVF index over the vectors: 4·√n lists trained on up to 64 vectors per list, and the fewest
    probes whose top 10 reach TARGET_RECALL against probing every list; returns it and how it was
    calibrated.

    Calibration queries are midpoints of random pairs of stored vectors: near the data, like real
    questions, but not equal to any stored vector.
    """
    n, dimension = vectors.shape
    nlist = _nlist(n)
    rng = np.random.default_rng(0)
    ivf: faiss.IndexIVF
    sample = vectors[rng.choice(n, min(n, 64 * nlist), replace=False)]
    if codec == "float32":
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        ivf = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension),
            dimension,
            nlist,
            faiss.ScalarQuantizer.QT_8bit_uniform,
            faiss.METRIC_INNER_PRODUCT,
            False,  # codes of the vectors themselves, not of residuals: contents() decodes them directly
        )
    ivf.cp.min_points_per_centroid = 1  # a small training sample is deliberate, not worth a warning
    ivf.train(sample)
    ivf.add_with_ids(vectors, rows)
    pairs = rng.choice(n, (min(n, _CALIBRATION_QUERIES), 2))
    queries = vectors[pairs[:, 0]] + vectors[pairs[:, 1]]
    faiss.normalize_L2(queries)
    # The truth is every list probed: exact search in the index's own codes, so that 8-bit codes are not
    # asked for a recall only float32 can give. A result counts when it scores as high as the 10th best:
    # copies of one sentence tie, and which copies come first is arbitrary.
    ivf.nprobe = nlist
    best, _ = ivf.search(queries, 10)
    bar = best[:, -1:] - 1e-6
    recall = 0.0
    for nprobe in (2**i for i in range(int(math.log2(nlist)) + 2)):
        ivf.nprobe = min(nprobe, nlist)
        scores, _ = ivf.search(queries, 10)
        recall = float(np.mean(scores >= bar))
        if recall >= TARGET_RECALL or ivf.nprobe == nlist:
            break
    return ivf, {"built_on": n, "queries": len(queries), "recall_at_10": round(recall, 4)}
