/**
 * A subset of Go's text/template, evaluated over JSON data: what `weave report -f TEMPLATE`
 * (GET /report?format=) takes. Pure; bounded (output size, loop steps, nesting), so a template
 * from the API cannot stall the daemon.
 *
 * Supported: text; actions `{{ pipeline }}` with `{{-`/`-}}` trimming; `{{if}}`/`{{else if}}`/
 * `{{else}}`, `{{range}}` (with `{{else}}`), `{{with}}`, `{{end}}`; operands `.`, `.A.B`, `$`,
 * `$.A`, "strings", numbers, true/false; pipelines `x | f`; functions len, json (Weave's own),
 * printf (%s %d %v %q %f with width and `-`), print, println, index, eq, ne, lt, gt, not, and,
 * or. Field names match JSON keys case-insensitively, so Weave's `{{.Router.Name}}` reads
 * weavets' `router.name`. Not supported: variables other than `$`, `define`/`template`/`block`,
 * method calls, comments. Errors say which part and why.
 */
import { WeavetsError } from "../errors.ts";

export class TemplateError extends WeavetsError {
  override name = "TemplateError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: string }
  | { kind: "if" | "with"; branches: Array<{ pipe: string | null; body: Node[] }> }
  | { kind: "range"; pipe: string; body: Node[]; otherwise: Node[] };

const LIMITS = { outputBytes: 1 << 20, steps: 200_000, depth: 50, sourceBytes: 64 << 10 };

/** Parses `source`; throws TemplateError naming what is wrong. */
export function parseTemplate(source: string): Node[] {
  const tokens = tokenize(source);
  let i = 0;
  const block = (depth: number): { nodes: Node[]; end: string } => {
    if (depth > LIMITS.depth) throw new TemplateError("template nested too deeply");
    const nodes: Node[] = [];
    while (i < tokens.length) {
      const t = tokens[i++];
      if (t.kind === "text") {
        nodes.push({ kind: "text", text: t.text });
        continue;
      }
      const a = t.text;
      const word = /^(\w+)\b\s*(.*)$/s.exec(a);
      const kw = word?.[1];
      if (kw === "end" || kw === "else") return { nodes, end: a };
      if (kw === "if" || kw === "with") {
        const branches: Array<{ pipe: string | null; body: Node[] }> = [];
        let pipe: string | null = need(word![2], kw);
        for (;;) {
          const b = block(depth + 1);
          branches.push({ pipe, body: b.nodes });
          if (b.end === "end") break;
          const elif = /^else\s+if\s+(.*)$/s.exec(b.end);
          if (elif && kw === "if") pipe = need(elif[1], "else if");
          else if (b.end === "else") {
            const last = block(depth + 1);
            if (last.end !== "end") throw new TemplateError(`{{${last.end}}} after {{else}}`);
            branches.push({ pipe: null, body: last.nodes });
            break;
          } else throw new TemplateError(`unexpected {{${b.end}}} in {{${kw}}}`);
        }
        nodes.push({ kind: kw, branches });
        continue;
      }
      if (kw === "range") {
        const pipe = need(word![2], "range");
        const b = block(depth + 1);
        let otherwise: Node[] = [];
        if (b.end === "else") {
          const o = block(depth + 1);
          if (o.end !== "end") throw new TemplateError(`{{${o.end}}} after {{else}} in {{range}}`);
          otherwise = o.nodes;
        } else if (b.end !== "end") throw new TemplateError(`unexpected {{${b.end}}} in {{range}}`);
        nodes.push({ kind: "range", pipe, body: b.nodes, otherwise });
        continue;
      }
      if (kw && ["define", "template", "block"].includes(kw)) {
        throw new TemplateError(`{{${kw}}} is not supported`);
      }
      nodes.push({ kind: "action", pipe: a });
    }
    if (depth > 0) throw new TemplateError("missing {{end}}");
    return { nodes, end: "" };
  };
  const top = block(0);
  if (top.end !== "") throw new TemplateError(`unexpected {{${top.end}}}`);
  return top.nodes;
}

function need(pipe: string, what: string): string {
  if (pipe.trim() === "") throw new TemplateError(`missing value for {{${what}}}`);
  return pipe;
}

function tokenize(src: string): Array<{ kind: "text" | "action"; text: string }> {
  const out: Array<{ kind: "text" | "action"; text: string }> = [];
  let pos = 0;
  for (;;) {
    const open = src.indexOf("{{", pos);
    if (open < 0) {
      out.push({ kind: "text", text: src.slice(pos) });
      return out;
    }
    let text = src.slice(pos, open);
    let start = open + 2;
    if (
      src.startsWith("- ", start) || src.startsWith("-\t", start) || src.startsWith("-\n", start)
    ) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    out.push({ kind: "text", text });
    const close = findClose(src, start);
    if (close < 0) throw new TemplateError(`unclosed action at offset ${open}`);
    let end = close;
    let next = close + 2;
    if (src[close - 1] === "-" && /\s/.test(src[close - 2] ?? "")) {
      end = close - 1;
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    const body = src.slice(start, end).trim();
    if (body.startsWith("/*")) throw new TemplateError("comments are not supported");
    out.push({ kind: "action", text: body });
    pos = next;
  }
}

/** The "}}" closing an action, skipping quoted strings. */
function findClose(src: string, from: number): number {
  for (let i = from; i < src.length - 1; i++) {
    if (src[i] === '"') {
      for (i++; i < src.length && src[i] !== '"'; i++) if (src[i] === "\\") i++;
    } else if (src[i] === "}" && src[i + 1] === "}") return i;
  }
  return -1;
}

/** Renders `source` over `data`; throws TemplateError (parse or execution). */
export function renderTemplate(source: string, data: unknown): string {
  if (source.length > LIMITS.sourceBytes) {
    throw new TemplateError(`template longer than ${LIMITS.sourceBytes} characters`);
  }
  const nodes = parseTemplate(source);
  const out: string[] = [];
  let size = 0;
  let steps = 0;
  const emit = (s: string) => {
    size += s.length;
    if (size > LIMITS.outputBytes) {
      throw new TemplateError(`output larger than ${LIMITS.outputBytes} bytes`);
    }
    out.push(s);
  };
  const run = (list: Node[], dot: unknown) => {
    for (const n of list) {
      if (++steps > LIMITS.steps) throw new TemplateError("template takes too many steps");
      if (n.kind === "text") emit(n.text);
      else if (n.kind === "action") emit(show(evalPipe(n.pipe, dot, data)));
      else if (n.kind === "range") {
        const v = evalPipe(n.pipe, dot, data);
        const items = Array.isArray(v)
          ? v
          : v !== null && typeof v === "object"
          ? Object.keys(v).sort().map((k) => (v as Record<string, unknown>)[k])
          : v === null || v === undefined
          ? []
          : fail(`cannot range over ${show(v)}`);
        if (items.length === 0) run(n.otherwise, dot);
        for (const item of items) run(n.body, item);
      } else {
        for (const b of n.branches) {
          if (b.pipe === null) {
            run(b.body, dot);
            break;
          }
          const v = evalPipe(b.pipe, dot, data);
          if (truthy(v)) {
            run(b.body, n.kind === "with" ? v : dot);
            break;
          }
        }
      }
    }
  };
  run(nodes, data);
  return out.join("");
}

function fail(msg: string): never {
  throw new TemplateError(msg);
}

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

/** As Go's fmt prints a value: lists "[a b]", objects as JSON, missing "<no value>". */
export function show(v: unknown): string {
  if (v === undefined) return "<no value>";
  if (v === null) return "<nil>";
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return `[${v.map(show).join(" ")}]`;
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

// ---- pipelines -------------------------------------------------------------------------------

type Word = { lit: unknown } | { ref: string } | { sub: string };

function words(cmd: string): Word[] {
  const out: Word[] = [];
  let i = 0;
  while (i < cmd.length) {
    if (/\s/.test(cmd[i])) {
      i++;
      continue;
    }
    let j = i;
    if (cmd[i] === '"') {
      for (j = i + 1; j < cmd.length && cmd[j] !== '"'; j++) if (cmd[j] === "\\") j++;
      const w = cmd.slice(i, ++j);
      try {
        out.push({ lit: JSON.parse(w) });
      } catch {
        fail(`bad string ${w}`);
      }
    } else if (cmd[i] === "(") {
      let depth = 0;
      for (; j < cmd.length; j++) {
        if (cmd[j] === "(" && ++depth > LIMITS.depth) fail("parentheses nested too deeply");
        else if (cmd[j] === ")" && --depth === 0) break;
      }
      if (depth !== 0) fail(`unclosed ( in "${cmd.trim()}"`);
      out.push({ sub: cmd.slice(i + 1, j++) });
    } else {
      while (j < cmd.length && !/[\s()"]/.test(cmd[j])) j++;
      const w = cmd.slice(i, j);
      if (w === "") fail(`cannot parse "${cmd.trim()}"`);
      if (/^-?\d+(\.\d+)?$/.test(w)) out.push({ lit: Number(w) });
      else if (w === "true" || w === "false") out.push({ lit: w === "true" });
      else if (w === "nil") out.push({ lit: null });
      else out.push({ ref: w });
    }
    i = j;
  }
  return out;
}

function evalPipe(pipe: string, dot: unknown, root: unknown): unknown {
  const cmds = splitPipe(pipe);
  let prev: unknown = undefined;
  cmds.forEach((cmd, i) => {
    const ws = words(cmd);
    if (ws.length === 0) fail(`empty command in "${pipe.trim()}"`);
    const args = ws.slice(1).map((w) => value(w, dot, root));
    if (i > 0) args.push(prev);
    const head = ws[0];
    if ("ref" in head && /^[A-Za-z]\w*$/.test(head.ref)) prev = call(head.ref, args);
    else if (args.length > 0) {
      fail(`"${cmd.trim()}": only a function takes arguments`);
    } else prev = value(head, dot, root);
  });
  return prev;
}

function splitPipe(pipe: string): string[] {
  const parts: string[] = [];
  let cur = "";
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < pipe.length; i++) {
    const c = pipe[i];
    if (c === '"' && pipe[i - 1] !== "\\") quoted = !quoted;
    if (!quoted && c === "(") depth++;
    if (!quoted && c === ")") depth--;
    if (c === "|" && !quoted && depth === 0) {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

function value(w: Word, dot: unknown, root: unknown): unknown {
  if ("lit" in w) return w.lit;
  if ("sub" in w) return evalPipe(w.sub, dot, root);
  const r = w.ref;
  if (r === ".") return dot;
  if (r === "$") return root;
  let base: unknown;
  let path: string;
  if (r.startsWith("$.")) [base, path] = [root, r.slice(2)];
  else if (r.startsWith(".")) [base, path] = [dot, r.slice(1)];
  else return fail(`function "${r}" not defined`);
  for (const f of path.split(".")) base = field(base, f);
  return base;
}

function field(v: unknown, name: string): unknown {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    return fail(`can't evaluate field ${name} in ${Array.isArray(v) ? "a list" : show(v)}`);
  }
  const o = v as Record<string, unknown>;
  if (Object.hasOwn(o, name)) return o[name];
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key !== undefined) return o[key];
  return fail(`can't evaluate field ${name}: there are ${Object.keys(o).join(", ") || "none"}`);
}

function call(fn: string, a: unknown[]): unknown {
  const cmp = (x: unknown, y: unknown) => (x as number) < (y as number);
  switch (fn) {
    case "len":
      if (typeof a[0] === "string" || Array.isArray(a[0])) return a[0].length;
      if (a[0] !== null && typeof a[0] === "object") return Object.keys(a[0]).length;
      return fail(`len of ${show(a[0])}`);
    case "json":
      return JSON.stringify(a[0] ?? null);
    case "printf":
      return printf(String(a[0] ?? ""), a.slice(1));
    case "print":
      return a.map(show).join("");
    case "println":
      return a.map(show).join(" ") + "\n";
    case "index":
      return a.slice(1).reduce(
        (v, k) => Array.isArray(v) ? v[k as number] : (v as Record<string, unknown>)?.[String(k)],
        a[0],
      );
    case "eq":
      return a.slice(1).some((x) => x === a[0]);
    case "ne":
      return a[0] !== a[1];
    case "lt":
      return cmp(a[0], a[1]);
    case "gt":
      return cmp(a[1], a[0]);
    case "not":
      return !truthy(a[0]);
    case "and":
      return a.find((x) => !truthy(x)) ?? a[a.length - 1];
    case "or":
      return a.find((x) => truthy(x)) ?? a[a.length - 1];
    default:
      return fail(`function "${fn}" not defined`);
  }
}

/** Go's printf for %s %d %v %q %f (%%), with flags "-" and a width (and .precision for %f). */
export function printf(format: string, args: unknown[]): string {
  let n = 0;
  return format.replace(/%(-?)(\d*)(?:\.(\d+))?([sdvqf%])/g, (_m, left, width, prec, verb) => {
    if (verb === "%") return "%";
    const v = args[n++];
    let s = verb === "q"
      ? JSON.stringify(show(v))
      : verb === "d"
      ? String(Math.trunc(Number(v)))
      : verb === "f"
      ? Number(v).toFixed(prec ? Number(prec) : 6)
      : show(v);
    if (v === undefined && verb !== "%") s = `%!${verb}(MISSING)`;
    const w = Number(width || 0);
    return left ? s.padEnd(w) : s.padStart(w);
  });
}
