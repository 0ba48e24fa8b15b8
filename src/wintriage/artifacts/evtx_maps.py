"""EvtxECmd-style event maps: load ``.map`` YAML files and apply them to parsed event records.

A map names one event (``Channel`` + ``Provider`` + ``EventId``), a ``Description`` (EvtxECmd's
``MapDescription``) and ``Maps``: for each output property (``UserName``, ``RemoteHost``,
``ExecutableInfo``, ``PayloadData1..6``) a ``PropertyValue`` template with ``%name%`` variables, each
variable read by an XPath ``Value`` (optionally narrowed by a ``Refine`` regex), and optional ``Lookups``
(code -> text tables keyed by variable name).

The XPath subset is evaluated over the record's parsed structure (the ``evtx`` wheel's JSON with
separate attributes, or the same shape built from XML for recovered records):

- ``/Event/EventData/Data[@Name="X"]`` -> ``EventData["X"]``
- ``/Event/EventData/Data`` -> the first Data value; ``/Event/EventData/Data[2]`` -> the second
- ``/Event/UserData/A/B`` and ``/Event/System/A/B`` -> nested elements
- ``.../Element/@Attr`` -> ``Element_attributes["Attr"]``

Override order is EvtxECmd's: files are applied in alphabetical order within a folder and folders in the
order given, so a later file with the same Channel/Provider/EventId wins. Our bundled maps come first,
``--maps DIR`` folders after them.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import yamlsafe

PROPERTIES = (
    "UserName",
    "RemoteHost",
    "ExecutableInfo",
    "PayloadData1",
    "PayloadData2",
    "PayloadData3",
    "PayloadData4",
    "PayloadData5",
    "PayloadData6",
)
# output column (case store) for each map property
COLUMN = {
    "UserName": "user_name",
    "RemoteHost": "remote_host",
    "ExecutableInfo": "executable_info",
    **{f"PayloadData{i}": f"payload{i}" for i in range(1, 7)},
}

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "maps"
Getter = Callable[[dict[str, Any]], Any]
_VAR = re.compile(r"%([^%\s]+)%")
_STEP = re.compile(r'^([A-Za-z_][\w.\-]*)(?:\[(?:@Name\s*=\s*["\']([^"\']*)["\']|(\d+))\])?$')


class MapError(ValueError):
    """A map file that does not follow the schema."""


def text(v: Any) -> str:
    """A parsed XML value as EvtxECmd shows it."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, list):
        return ", ".join(text(x) for x in v)
    if isinstance(v, dict):
        if "#text" in v:
            return text(v["#text"])
        return json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(v)


def _values(d: Any) -> list[Any]:
    """The Data values of an EventData-like element, in document order (attributes excluded)."""
    if not isinstance(d, dict):
        return [] if d is None else [d]
    if "Data" in d and len([k for k in d if not k.endswith("_attributes")]) == 1:
        v = d["Data"]
        if isinstance(v, dict) and "#text" in v:
            v = v["#text"]
        return list(v) if isinstance(v, list) else [v]
    return [v for k, v in d.items() if not k.endswith("_attributes") and k != "#attributes"]


def compile_xpath(xpath: str) -> Getter:
    """Compile the XPath subset into a function over the event dict (``{"Event": {...}}`` or the Event)."""
    xp = xpath.strip()
    if not xp.startswith("/"):
        raise MapError(f"XPath must be absolute: {xpath!r}")
    parts = [p for p in xp.split("/") if p]
    attr: str | None = None
    if parts and parts[-1].startswith("@"):
        attr = parts.pop()[1:]
    steps: list[tuple[str, str | None, int | None]] = []
    for p in parts:
        m = _STEP.match(p.strip())
        if not m:
            raise MapError(f"unsupported XPath step {p!r} in {xpath!r}")
        steps.append((m.group(1), m.group(2), int(m.group(3)) if m.group(3) else None))
    if not steps or steps[0][0] != "Event":
        raise MapError(f"XPath must start at /Event: {xpath!r}")
    steps = steps[1:]
    fast = _fast_getter(steps, attr)
    if fast is not None:
        return fast

    def get(ev: dict[str, Any]) -> Any:
        cur: Any = ev.get("Event", ev) if "Event" in ev else ev
        parent: Any = None
        last = ""
        for name, at_name, index in steps:
            if not isinstance(cur, dict):
                return None
            if name == "Data" and (at_name is not None or index is not None or "Data" not in cur):
                # Data children of EventData: named ones are flattened into the parent dict
                if at_name is not None:
                    nxt = cur.get(at_name)
                else:
                    vals = _values(cur)
                    i = (index or 1) - 1
                    nxt = vals[i] if 0 <= i < len(vals) else None
            else:
                nxt = cur.get(name)
                if index is not None and isinstance(nxt, list):
                    nxt = nxt[index - 1] if 0 < index <= len(nxt) else None
                elif isinstance(nxt, list) and name == "Data":
                    nxt = nxt[0] if nxt else None
            parent, last, cur = cur, name, nxt
        if attr is not None:
            if parent is None:
                return None
            attrs = parent.get(last + "_attributes")
            if isinstance(attrs, dict):
                return attrs.get(attr)
            if isinstance(cur, dict):  # attributes kept inline ("#attributes")
                a = cur.get("#attributes")
                return a.get(attr) if isinstance(a, dict) else None
            return None
        return cur

    return get


def _fast_getter(steps: list[tuple[str, str | None, int | None]], attr: str | None) -> Getter | None:
    """Direct dict lookups for the shapes nearly every map uses (the hot path of map application)."""
    if attr is None and len(steps) == 2 and steps[0] == ("EventData", None, None) and steps[1][0] == "Data" \
            and steps[1][1] is not None:
        name = steps[1][1]

        def data_named(ev: dict[str, Any]) -> Any:
            d = ev.get("Event", ev).get("EventData")
            return d.get(name) if type(d) is dict else None

        data_named.data_name = name  # type: ignore[attr-defined]  # inlined by EventMap's generated code
        return data_named
    if attr is None and steps and all(i is None and n is None for _s, n, i in steps) \
            and steps[0][0] in ("System", "UserData", "EventData") and all(s != "Data" for s, _n, _i in steps):
        names = [s for s, _n, _i in steps]

        def path(ev: dict[str, Any]) -> Any:
            cur: Any = ev.get("Event", ev)
            for n in names:
                if type(cur) is not dict:
                    return None
                cur = cur.get(n)
            return cur

        return path
    return None


@dataclass(frozen=True)
class _Var:
    name: str
    get: Getter
    refine: re.Pattern[str] | None


@dataclass(frozen=True)
class _Prop:
    column: str
    template: str
    variables: tuple[_Var, ...]


@dataclass
class EventMap:
    channel: str
    provider: str
    event_id: int
    description: str
    source: str
    props: list[_Prop] = field(default_factory=list)
    lookups: dict[str, tuple[dict[str, str], str | None]] = field(default_factory=dict)

    _plan: list[tuple[str, str, list[tuple[Getter, re.Pattern[str] | None, dict[str, str] | None, str | None]]]] = \
        field(default_factory=list, repr=False)

    def compile(self) -> None:
        """Per property: a ``str.format`` template and, per distinct variable, (getter, refine, lookup table,
        lookup default). Called once after loading; ``apply`` then does no name lookups."""
        self._plan = []
        for prop in self.props:
            by_name: dict[str, _Var] = {}
            for var in prop.variables:
                by_name[var.name] = var  # a repeated name: the last definition wins
            names = list(by_name)
            parts = []
            for piece in _split_template(prop.template):
                if piece[:1] == "\x00":
                    n = piece[1:]
                    parts.append(f"{{{names.index(n)}}}" if n in by_name else "")
                else:
                    parts.append(piece.replace("{", "{{").replace("}", "}}"))
            steps = []
            for n in names:
                v = by_name[n]
                lk = self.lookups.get(n)
                steps.append((v.get, v.refine, lk[0] if lk else None, lk[1] if lk else None))
            self._plan.append((prop.column, "".join(parts), steps))

    _values: Callable[[dict[str, Any]], tuple[str | None, ...]] | None = field(default=None, repr=False)

    def values(self, event: dict[str, Any]) -> tuple[str | None, ...]:
        """``apply`` as one tuple in ``MAP_COLUMNS`` order (``None`` for a property the map does not fill), by a
        function generated once per map: ``Data[@Name=...]`` reads inlined, the EventData lookup done once."""
        return self.values_function()(event)

    def values_function(self) -> Callable[[dict[str, Any]], tuple[str | None, ...]]:
        """The generated function ``values`` calls (generated on first use)."""
        fn = self._values
        if fn is None:
            fn = self._values = _generate(self)
        return fn

    def apply(self, event: dict[str, Any]) -> dict[str, str]:
        if not self._plan and self.props:
            self.compile()
        out: dict[str, str] = {"map_description": self.description}
        for column, fmt, steps in self._plan:
            vals = []
            for get, refine, table, default in steps:
                try:
                    v = get(event)
                except (TypeError, AttributeError, IndexError, KeyError):
                    v = None
                if type(v) is not str:
                    v = text(v)
                if refine is not None and v:
                    m = refine.search(v)
                    v = m.group(0) if m else ""
                if table is not None:
                    v = table.get(v.lower(), default if default is not None else v)
                vals.append(v)
            out[column] = fmt.format(*vals)
        return out


MAP_COLUMNS = ("map_description", "user_name", "remote_host", "executable_info",
               *(f"payload{i}" for i in range(1, 7)))
_GETTER_ERRORS = (TypeError, AttributeError, IndexError, KeyError)


def _generate(em: EventMap) -> Callable[[dict[str, Any]], tuple[str | None, ...]]:
    """Python source for ``em.apply`` specialised to this map, compiled once. Same steps, same order, same
    results as ``apply``: per property and variable, the getter (a ``Data[@Name=...]`` read inline), ``text()``
    for a non-string, the Refine regex, the lookup table; then the property's template."""
    if not em._plan and em.props:
        em.compile()
    env: dict[str, Any] = {"_text": text, "_ERR": _GETTER_ERRORS, "_desc": em.description}
    lines = ["def _values(event):"]
    out = ["_desc"] + ["None"] * (len(MAP_COLUMNS) - 1)
    if any(getattr(g, "data_name", None) is not None for _c, _f, steps in em._plan for g, *_r in steps):
        lines += ["    _e = event.get('Event', event)",
                  "    _d = _e.get('EventData') if type(_e) is dict else None",
                  "    if type(_d) is not dict:",
                  "        _d = None"]
    for p, (column, fmt, steps) in enumerate(em._plan):
        names = []
        for k, (get, refine, table, default) in enumerate(steps):
            v = f"v{p}_{k}"
            names.append(v)
            dn = getattr(get, "data_name", None)
            if dn is not None:
                env[f"n{p}_{k}"] = dn
                lines.append(f"    {v} = _d.get(n{p}_{k}) if _d is not None else None")
            else:
                env[f"g{p}_{k}"] = get
                lines += ["    try:", f"        {v} = g{p}_{k}(event)", "    except _ERR:", f"        {v} = None"]
            lines += [f"    if type({v}) is not str:", f"        {v} = _text({v})"]
            if refine is not None:
                env[f"r{p}_{k}"] = refine
                lines += [f"    if {v}:", f"        _m = r{p}_{k}.search({v})", f"        {v} = _m.group(0) if _m else ''"]
            if table is not None:
                env[f"t{p}_{k}"] = table
                if default is not None:
                    env[f"d{p}_{k}"] = default
                    lines.append(f"    {v} = t{p}_{k}.get({v}.lower(), d{p}_{k})")
                else:
                    lines.append(f"    {v} = t{p}_{k}.get({v}.lower(), {v})")
        # the template as a concatenation (``fmt.format`` parses it on every call): a variable is a str here, or
        # ``format()`` of a lookup value, as ``str.format`` would give it
        pieces = []
        for j, (lit, fld, _spec, _conv) in enumerate(string.Formatter().parse(fmt)):
            if lit:
                env[f"l{p}_{j}"] = lit
                pieces.append(f"l{p}_{j}")
            if fld is not None:
                k = int(fld)
                pieces.append(names[k] if steps[k][2] is None else f"format({names[k]})")
        lines.append(f"    c{p} = {' + '.join(pieces) or repr('')}")
        out[MAP_COLUMNS.index(column)] = f"c{p}"  # a property given twice: the last one wins, as in apply()
    lines.append(f"    return ({', '.join(out)},)")
    exec(compile("\n".join(lines), f"<map {em.source}>", "exec"), env)  # noqa: S102 - our own generated source
    return env["_values"]


@functools.lru_cache(maxsize=4096)
def _split_template(template: str) -> tuple[str, ...]:
    """``"a %x% b"`` -> ``("a ", "\\x00x", " b")``: literals and (NUL-marked) variable names."""
    out: list[str] = []
    pos = 0
    for m in _VAR.finditer(template):
        out.append(template[pos : m.start()])
        out.append("\x00" + m.group(1))
        pos = m.end()
    out.append(template[pos:])
    return tuple(p for p in out if p)


def _str(d: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise MapError(f"{where}: missing {key}")
        return ""
    if not isinstance(v, (str, int, float)):
        raise MapError(f"{where}: {key} must be text, got {type(v).__name__}")
    return str(v)


_PROP_CI = {p.lower(): p for p in PROPERTIES}


def parse_map(doc: Any, source: str, notes: list[str] | None = None) -> EventMap:
    """Validate one map document against the schema and compile it."""
    if not isinstance(doc, dict):
        raise MapError(f"{source}: a map is a mapping, got {type(doc).__name__}")
    unknown = set(doc) - {"Author", "Description", "EventId", "Channel", "Provider", "Maps", "Lookups"}
    if unknown:
        raise MapError(f"{source}: unknown keys {sorted(unknown)}")
    try:
        event_id = int(str(doc.get("EventId")).strip())
    except ValueError:
        raise MapError(f"{source}: EventId must be an integer, got {doc.get('EventId')!r}") from None
    em = EventMap(
        channel=_str(doc, "Channel", source),
        provider=_str(doc, "Provider", source, required=False),
        event_id=event_id,
        description=_str(doc, "Description", source, required=False),
        source=source,
    )
    maps = doc.get("Maps") or []
    if not isinstance(maps, list):
        raise MapError(f"{source}: Maps must be a list")
    for i, m in enumerate(maps):
        where = f"{source}: Maps[{i}]"
        if not isinstance(m, dict):
            raise MapError(f"{where}: must be a mapping")
        prop = _PROP_CI.get(_str(m, "Property", where).lower(), "")
        if prop not in COLUMN:
            raise MapError(f"{where}: Property {prop!r} is not one of {', '.join(PROPERTIES)}")
        template = _str(m, "PropertyValue", where)
        variables = []
        for j, v in enumerate(m.get("Values") or []):
            w = f"{where}.Values[{j}]"
            if not isinstance(v, dict):
                raise MapError(f"{w}: must be a mapping")
            refine = v.get("Refine")
            pat = None
            if refine:
                try:
                    pat = re.compile(str(refine))
                except re.error as e:  # .NET-only syntax (variable-width look-behind): value kept unrefined
                    if notes is not None:
                        notes.append(f"{w}: Refine {refine!r} not usable in Python ({e}); value used unrefined")
            variables.append(_Var(_str(v, "Name", w), compile_xpath(_str(v, "Value", w)), pat))
        em.props.append(_Prop(COLUMN[prop], template, tuple(variables)))
    lookups = doc.get("Lookups") or []
    if not isinstance(lookups, list):
        raise MapError(f"{source}: Lookups must be a list")
    for k, lk in enumerate(lookups):
        w = f"{source}: Lookups[{k}]"
        if not isinstance(lk, dict) or not isinstance(lk.get("Values") or {}, dict):
            raise MapError(f"{w}: needs Name and a Values mapping")
        table = {str(a).strip().lower(): str(b) for a, b in (lk.get("Values") or {}).items()}
        default = lk.get("Default")
        em.lookups[_str(lk, "Name", w)] = (table, None if default is None else str(default))
    em.compile()
    return em


SHORT_KEYS = {"Author", "Description", "EventId", "Channel", "Provider", "Values", "Lookups", *PROPERTIES}


def expand_short(ev: dict[str, Any], source: str) -> dict[str, Any]:
    """Our compact map entry -> an EvtxECmd map document.

    ``{EventId, Description, <Property>: template, Values: {var: xpath}, Lookups: {var: {Default, Values}}}``;
    a ``%var%`` without an explicit XPath reads ``/Event/EventData/Data[@Name="var"]``.
    """
    unknown = set(ev) - SHORT_KEYS
    if unknown:
        raise MapError(f"{source}: unknown keys {sorted(unknown)}")
    xpaths = ev.get("Values") or {}
    if not isinstance(xpaths, dict):
        raise MapError(f"{source}: Values must map variable names to XPath")
    maps = []
    for prop in PROPERTIES:
        if prop not in ev:
            continue
        template = ev[prop]
        if not isinstance(template, str):
            raise MapError(f"{source}: {prop} must be a template string")
        names = list(dict.fromkeys(_VAR.findall(template)))
        values = []
        for n in names:
            x = xpaths.get(n, f'/Event/EventData/Data[@Name="{n}"]')
            values.append({"Name": n, **x} if isinstance(x, dict) else {"Name": n, "Value": x})
        maps.append({"Property": prop, "PropertyValue": template, "Values": values})
    lookups = ev.get("Lookups") or {}
    if not isinstance(lookups, dict):
        raise MapError(f"{source}: Lookups must map variable names to tables")
    out: dict[str, Any] = {k: ev[k] for k in ("Author", "Description", "EventId", "Channel", "Provider") if k in ev}
    out["Maps"] = maps
    if lookups:
        out["Lookups"] = [{"Name": k, **(v if isinstance(v, dict) else {"Values": v})} for k, v in lookups.items()]
    return out


@dataclass
class MapSet:
    """Maps indexed by (channel lower, event id); each entry keeps one map per provider."""

    by_key: dict[tuple[str, int], dict[str, EventMap]] = field(default_factory=dict)
    files: int = 0
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # loaded, with a part ignored (e.g. .NET-only regex)
    _memo: dict[str, dict[str, dict[int, EventMap | None]]] = field(default_factory=dict, repr=False)

    def add(self, em: EventMap) -> None:
        self._memo.clear()
        self.by_key.setdefault((em.channel.lower(), em.event_id), {})[em.provider.lower()] = em

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_key.values())

    def find(self, channel: str, provider: str, event_id: int) -> EventMap | None:
        memo = self._memo.get(channel)
        if memo is None:
            memo = self._memo[channel] = {}
        by_eid = memo.get(provider)
        if by_eid is None:
            by_eid = memo[provider] = {}
        try:
            return by_eid[event_id]
        except KeyError:
            pass
        d = self.by_key.get((channel.lower(), event_id))
        em = None
        if d:
            em = d.get(provider.lower())
            if em is None:
                em = d.get("")  # a map without a provider matches any provider of the channel
        if len(by_eid) < 10_000:
            by_eid[event_id] = em
        return em

    def apply(self, channel: str, provider: str, event_id: int, event: dict[str, Any]) -> dict[str, str] | None:
        em = self.find(channel, provider, event_id)
        return em.apply(event) if em is not None else None

    # --- loading ------------------------------------------------------------------------------
    def load_text(self, text_: str, source: str) -> int:
        """Load one file: an EvtxECmd ``.map`` (one document) or one of our ``.yaml`` files (a list)."""
        try:
            docs = list(yamlsafe.load_all(text_))  # libyaml when available: 468 maps in well under a second
        except yaml.YAMLError as e:
            self.errors.append(f"{source}: YAML error: {e}")
            return 0
        n = 0
        for doc in docs:
            if doc is None:
                continue
            if isinstance(doc, dict) and "Events" in doc:  # our bundled format: one file per channel
                events = doc["Events"]
                if not isinstance(events, list):
                    self.errors.append(f"{source}: Events must be a list")
                    continue
                defaults = {k: doc[k] for k in ("Channel", "Provider", "Author") if k in doc}
                for i, ev in enumerate(events):
                    try:
                        if not isinstance(ev, dict):
                            raise MapError(f"{source}#{i}: an event entry is a mapping")
                        self.add(parse_map(expand_short({**defaults, **ev}, f"{source}#{i}"), f"{source}#{i}", self.notes))
                        n += 1
                    except MapError as e:
                        self.errors.append(str(e))
                continue
            try:
                self.add(parse_map(doc, source, self.notes))
                n += 1
            except MapError as e:
                self.errors.append(str(e))
        self.files += 1
        return n

    def load_dir(self, folder: Path) -> int:
        n = 0
        folder = Path(folder)
        files = [folder] if folder.is_file() else sorted(
            (p for p in folder.iterdir() if p.suffix.lower() in (".map", ".yaml", ".yml")), key=lambda p: p.name.lower()
        )
        for p in files:
            try:
                data = p.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as e:
                self.errors.append(f"{p}: cannot read: {e}")
                continue
            n += self.load_text(data, str(p))
        return n

    def load_bundled(self) -> int:
        n = 0
        if not BUNDLED.is_dir():
            return 0
        for p in sorted(BUNDLED.iterdir(), key=lambda q: q.name.lower()):
            if p.suffix.lower() in (".yaml", ".yml", ".map"):
                n += self.load_text(p.read_text(encoding="utf-8"), f"bundled:{p.name}")
        return n


def load_maps(dirs: Iterable[Path] | None = None, *, bundled: bool = True) -> MapSet:
    """Our bundled maps, then each folder in ``dirs`` (later files override earlier ones)."""
    ms = MapSet()
    if bundled:
        ms.load_bundled()
    for d in dirs or ():
        ms.load_dir(Path(d))
    return ms
