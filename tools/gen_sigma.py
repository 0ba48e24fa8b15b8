"""Convert the bundled Sigma rules ahead of time into src/wintriage/data/sigma/compiled.json.

    python tools/gen_sigma.py          # write
    python tools/gen_sigma.py --check  # exit 1 if compiled.json does not match the rule files (or, with the
                                       # pySigma versions it was made with, what converting them gives now)

``analyze`` then runs the bundled rules without importing pySigma or parsing YAML; when the rule files or the
installed pySigma versions differ from the ones recorded in the file, it converts them at run time as before.
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
    from wintriage.analyzers import sigma

    if "--check" in sys.argv[1:]:
        try:
            doc = json.loads(sigma.COMPILED.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        if doc.get("fingerprint") != sigma.fingerprint(sigma._rule_files([sigma.BUNDLED])):
            print(f"{sigma.COMPILED} does not match the rule files: run python tools/gen_sigma.py", file=sys.stderr)
            return 1
        if doc.get("versions") != sigma.sigma_versions():  # other pySigma here: analyze converts at run time
            print(f"note: {sigma.COMPILED} was made with {doc.get('versions')}; installed {sigma.sigma_versions()}",
                  file=sys.stderr)
            return 0
        if sigma.COMPILED.read_text(encoding="utf-8") != document_text():
            print(f"{sigma.COMPILED} differs from converting the rules now: run python tools/gen_sigma.py",
                  file=sys.stderr)
            return 1
        return 0
    text = document_text()
    sigma.COMPILED.write_text(text, encoding="utf-8")
    print(f"wrote {sigma.COMPILED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
