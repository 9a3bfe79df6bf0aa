"""Every relative link in README.md and docs/*.md resolves: to a file or folder of
the repository, and a '#fragment' to a heading of the file it points into (GitHub's
anchor rule: lower case, punctuation dropped, spaces to hyphens)."""

import glob
import os
import re

import pytest

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md"] + sorted(os.path.relpath(p, HERE)
                              for p in glob.glob(os.path.join(HERE, "docs", "*.md")))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")


def anchors(path):
    """GitHub's heading anchors of a Markdown file."""
    out = set()
    with open(path) as f:
        in_code = False
        for line in f:
            if line.startswith("```"):
                in_code = not in_code
            m = None if in_code else re.match(r"#{1,6}\s+(.*)", line)
            if m:
                # (rendering drops ` and * marks; GitHub's slug keeps letters, digits,
                # '_', '-' and spaces, then spaces become hyphens)
                text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1).strip())
                slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
                base, k = slug, 1
                while slug in out:
                    slug, k = f"{base}-{k}", k + 1
                out.add(slug)
    return out


def links(path):
    with open(path) as f:
        text = re.sub(r"```.*?```", "", f.read(), flags=re.S)
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, mailto: … are not ours
            yield target


def test_there_are_docs_to_check():
    assert "README.md" in DOCS and len(DOCS) > 1
    assert any(True for _ in links(os.path.join(HERE, "README.md")))


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc):
    source = os.path.join(HERE, doc)
    broken = []
    for target in links(source):
        path, _, fragment = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(source), path)) if path else source
        if not os.path.exists(dest):
            broken.append(f"{target} (no such file)")
        elif fragment and dest.endswith(".md") and fragment not in anchors(dest):
            broken.append(f"{target} (no heading #{fragment} in {os.path.relpath(dest, HERE)})")
    assert not broken, f"{doc}: broken links: {broken}"
