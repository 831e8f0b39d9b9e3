"""METEOR 1.5's paraphrase table, cut down to the entries a corpus can use.

Loading ``paraphrase-en.gz`` (5.3M entries, 272 MB of text) is nearly all of the METEOR jar's start-up: about 10 s
of a core, against 0.5 s without it. An entry (a phrase and its paraphrase) can only produce a match where both
phrases occur in one segment (a hypothesis and its references), so an entry with a word that occurs in no
segment, or whose words never occur together in one, matches nothing; METEOR reads the table into a trie and looks
phrases up word by word, never iterating over it, so dropping such entries (keeping the others in their order,
through the jar's own ``-a FILE`` option) leaves every alignment, every segment's statistics and the corpus score
as they were. Segments are grouped into at most 256 consecutive buckets and an entry is kept when all its words
occur in one bucket (one bit per bucket and word, so the test is a few array operations): DART dev keeps 0.37M
of the 5.3M entries. ``tests/test_metrics_meteor_paraphrase.py``
checks that, segment by segment, on the real WebNLG, DART and E2E files.

Which words "occur" is decided on the raw text, never by reimplementing METEOR's ``-norm`` tokenizer: a word
that is all ASCII letters and digits can only come out of the normaliser as a piece of one run of such characters
in the lowercased text, or, where it deletes punctuation, in the text with every other character deleted; so an
entry is dropped only if one of its words is made of ``[a-z0-9]`` and is a substring of no such run of the
segments of one bucket (:class:`SegmentWords`). Words holding anything else never drop an entry.

The table's text is indexed once per installation into a cache folder (``$ADAPTBENCH_CACHE``, by default
``~/.cache/adaptbench``; about 400 MB; some 20 s to build): its words as integer ids per entry, each entry's
rarest word and byte offset, so cutting the table for a corpus is a few array operations and one write. No library does this:
METEOR has no such option and pycocoevalcap starts the jar with the whole table.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

FORMAT = 2
"""The cache layout's version: a change to what is stored makes a fresh folder."""

_RUN = re.compile(r"[a-z0-9]+")
_ASCII_WORD = re.compile(r"[a-z0-9]+\Z")
# deleted for the second reading of the text: everything but ASCII letters, digits and Java's whitespace
_NOT_KEPT = re.compile(r"[^a-z0-9 \t\n\r\f]+")


def cache_root() -> Path:
    """Where adaptbench keeps what it computes once per installation."""
    explicit = os.environ.get("ADAPTBENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "adaptbench"


def text_runs(texts: Iterable[str]) -> set[str]:
    """The maximal ``[a-z0-9]`` runs of the lowercased texts, read as they are and with every character but
    those and whitespace deleted (so runs a deletion joins are there too)."""
    text = "\n".join(texts).lower()
    return set(_RUN.findall(text)) | set(_RUN.findall(_NOT_KEPT.sub("", text)))


def substrings(run: str) -> Iterator[str]:
    for start in range(len(run)):
        for end in range(start + 1, len(run) + 1):
            yield run[start:end]


BUCKETS = 256


class SegmentWords:
    """The ASCII words of a corpus of segments (each: a hypothesis and its references, any order), each with the
    buckets of consecutive segments it occurs in, as a bit mask (bit ``b``: bucket ``b``)."""

    def __init__(self, segments: Sequence[Sequence[str]], buckets: int = BUCKETS) -> None:
        self.segments = len(segments)
        self.buckets = max(1, min(buckets, self.segments))
        run_masks: dict[str, int] = {}
        for i, texts in enumerate(segments):
            bit = 1 << self.bucket_of(i)
            for run in text_runs(texts):
                run_masks[run] = run_masks.get(run, 0) | bit
        masks: dict[str, int] = {}
        for run, mask in run_masks.items():
            for word in substrings(run):
                masks[word] = masks.get(word, 0) | mask
        self.masks = masks

    def bucket_of(self, segment: int) -> int:
        return segment * self.buckets // self.segments

    def covers(self, segments: Sequence[Sequence[str]]) -> bool:
        """Whether a table cut for this corpus serves ``segments`` (as many, in the same order): each one's runs
        occur in its own bucket, so every entry it could use is in the cut."""
        if len(segments) != self.segments:
            return False
        masks = self.masks
        for i, texts in enumerate(segments):
            bucket = self.bucket_of(i)
            if not all(masks.get(run, 0) >> bucket & 1 for run in text_runs(texts)):
                return False
        return True


def index_folder(table: Path, cache: Path | None = None) -> Path:
    """The cache folder of ``table``'s index (keyed by the table's path, size and modification time)."""
    table = Path(table).resolve()
    stat = table.stat()
    key = hashlib.sha256(f"{FORMAT}|{table}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return (cache or cache_root()) / "meteor-paraphrase" / key


def index_exists(table: Path, cache: Path | None = None) -> bool:
    return (index_folder(table, cache) / "meta.json").is_file()


class ParaphraseIndex:
    """One paraphrase table, indexed in the cache (built on first use; concurrent builders are safe: each writes
    its own folder and one rename wins)."""

    def __init__(self, table: Path, cache: Path | None = None) -> None:
        self.table = Path(table).resolve()
        self.folder = index_folder(self.table, cache)
        if not index_exists(self.table, cache):
            self._build()

    def _build(self) -> None:
        """Index the table: ``words.json`` (the vocabulary), ``word_ids.npy`` (each entry's words, both phrases,
        as ids), ``word_starts.npy`` (where each entry's ids start), ``entry_starts.npy`` (each entry's byte offset
        in ``table.txt``, the table's text as the jar reads it), ``rarest.npy`` (each entry's least frequent word)."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=self.folder.parent))
        try:
            with gzip.open(self.table, "rb") as src:
                raw = src.read()
            (work / "table.txt").write_bytes(raw)
            lines = raw.split(b"\n")
            if lines[-1] == b"":
                lines.pop()
            if len(lines) % 3:
                raise ValueError(
                    f"{self.table}: {len(lines)} lines, not a multiple of 3 (probability, phrase, phrase)"
                )
            vocabulary: dict[bytes, int] = {}
            ids: list[int] = []
            word_starts = [0]
            for k in range(1, len(lines), 3):
                for word in lines[k].split() + lines[k + 1].split():
                    ids.append(vocabulary.setdefault(word, len(vocabulary)))
                word_starts.append(len(ids))
            lengths = np.fromiter((len(line) + 1 for line in lines), dtype=np.int64, count=len(lines))
            entry_starts = np.concatenate(([0], np.cumsum(lengths.reshape(-1, 3).sum(axis=1))))
            dtype = np.uint16 if len(vocabulary) < 2**16 else np.uint32
            word_ids = np.array(ids, dtype=dtype)
            starts = np.array(word_starts, dtype=np.int64)
            np.save(work / "word_ids.npy", word_ids)
            np.save(work / "word_starts.npy", starts)
            np.save(work / "entry_starts.npy", entry_starts)
            # each entry's rarest word in the table: most entries a corpus cannot use are told by that word alone
            by_count = np.argsort(-np.bincount(word_ids, minlength=len(vocabulary)), kind="stable")
            rank = np.empty_like(by_count)
            rank[by_count] = np.arange(by_count.size)
            np.save(
                work / "rarest.npy", by_count[np.maximum.reduceat(rank[word_ids], starts[:-1])].astype(dtype)
            )
            words = [w.decode("utf-8") for w in vocabulary]
            (work / "words.json").write_text(json.dumps(words, ensure_ascii=False), encoding="utf-8")
            meta = {
                "format": FORMAT,
                "table": str(self.table),
                "entries": len(lines) // 3,
                "words": len(words),
            }
            (work / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            try:
                work.rename(self.folder)
            except OSError:  # another process finished first: its folder is the same index
                if not (self.folder / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @cached_property
    def words(self) -> list[str]:
        return json.loads((self.folder / "words.json").read_text(encoding="utf-8"))

    def kept_entries(self, corpus: SegmentWords) -> np.ndarray:
        """Indices of the entries whose ASCII words all occur in one bucket of ``corpus``, in table order."""
        planes = -(-corpus.buckets // 64)
        every = (1 << (64 * planes)) - 1
        masks = [every if not _ASCII_WORD.match(w) else corpus.masks.get(w, 0) for w in self.words]
        bits = np.array(
            [[(m >> (64 * p)) & (2**64 - 1) for m in masks] for p in range(planes)], dtype=np.uint64
        )
        # bit j of a folded mask: one of the buckets j, j + 64, ... (a looser test, one plane)
        folded = np.bitwise_or.reduce(bits, axis=0)
        ids = np.load(self.folder / "word_ids.npy", mmap_mode="r")
        starts = np.load(self.folder / "word_starts.npy", mmap_mode="r")
        # necessary, cheapest first: the entry's rarest word occurs; all its words in one folded bucket; exact
        kept = np.flatnonzero(folded[np.load(self.folder / "rarest.npy")] != 0)
        for plane_bits in (folded[None], bits):
            if not kept.size:
                break
            lengths = starts[kept + 1] - starts[kept]
            firsts = np.cumsum(lengths) - lengths
            word_ids = ids[np.repeat(starts[kept] - firsts, lengths) + np.arange(int(lengths.sum()))]
            together = np.zeros(kept.size, dtype=bool)
            for plane in plane_bits:
                together |= np.bitwise_and.reduceat(plane[word_ids], firsts) != 0
            kept = kept[together]
        return kept

    def write_cut(self, corpus: SegmentWords, path: Path) -> int:
        """Write the table's entries that ``corpus`` can use to ``path`` (gzip, as the jar reads it); their count.
        Stored, not compressed: the file lives as long as the jar takes to read it, and deflating it would cost
        more than the jar's reading saves."""
        kept = self.kept_entries(corpus)
        offsets = np.load(self.folder / "entry_starts.npy", mmap_mode="r")
        # consecutive kept entries are one contiguous slice of the text
        breaks = np.flatnonzero(np.diff(kept) != 1) + 1
        first = kept[np.concatenate(([0], breaks))].tolist() if kept.size else []
        last = kept[np.concatenate((breaks - 1, [kept.size - 1]))].tolist() if kept.size else []
        begins, ends = offsets[first].tolist(), offsets[np.array(last, dtype=np.int64) + 1].tolist()
        with open(self.folder / "table.txt", "rb") as text:
            with mmap.mmap(text.fileno(), 0, access=mmap.ACCESS_READ) as view:
                data = b"".join([view[begin:end] for begin, end in zip(begins, ends, strict=True)])
        Path(path).write_bytes(gzip.compress(data, compresslevel=0, mtime=0))
        return int(kept.size)
