"""Convert the bundled Sigma rules ahead of time into src/wintriage/data/sigma/compiled.json.

    python tools/gen_sigma.py          # write
    python tools/gen_sigma.py --check  # exit 1 if compiled.json does not match the rules and installed pySigma

``analyze`` then runs the bundled rules without importing pySigma or parsing YAML; when the fingerprint (rule
files + pySigma versions) does not match, it converts them at run time as before.
"""

from __future__ import annotations

import json
import sys


def document_text() -> str:
    from wintriage.analyzers import sigma

    files = sigma._rule_files([sigma.BUNDLED])
    rules, skipped, errors = sigma.compile_rules([sigma.BUNDLED])
    doc = sigma.compiled_document(files, rules, skipped, errors)
    return json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> int:
    from wintriage.analyzers.sigma import COMPILED

    text = document_text()
    if "--check" in sys.argv[1:]:
        current = COMPILED.read_text(encoding="utf-8") if COMPILED.exists() else ""
        if current != text:
            print(f"{COMPILED} is stale: run python tools/gen_sigma.py", file=sys.stderr)
            return 1
        return 0
    COMPILED.write_text(text, encoding="utf-8")
    print(f"wrote {COMPILED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
