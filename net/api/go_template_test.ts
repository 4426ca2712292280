import assert from "node:assert/strict";
import { printf, renderTemplate, TemplateError } from "./go_template.ts";

const REPORT = {
  ready: true,
  version: "0.1.0",
  router: {
    name: "0a:39:ab:6e:42:c6",
    nickname: "node-1",
    targets: ["10.0.0.2:6783", "10.0.0.3:6783"],
    connections: [
      { direction: "outbound", address: "10.0.0.2:6783", state: "established", name: "aa" },
      { direction: "inbound", address: "10.0.0.3:41000", state: "pending" },
    ],
    peers: [{ name: "aa", nickname: "n2" }],
    trustedSubnets: [],
  },
  ipam: { range: "10.32.0.0/12", pendingAllocates: 0 },
};

const cases: Array<[string, string]> = [
  // Templates as Weave's docs and scripts write them (Go field names, capitalised).
  ["{{.Router.Name}}", "0a:39:ab:6e:42:c6"],
  ["{{.Router.NickName}}", "node-1"],
  ["{{len .Router.Targets}}", "2"],
  [
    "{{range .Router.Connections}}{{.Address}} {{.State}}\n{{end}}",
    "10.0.0.2:6783 established\n10.0.0.3:41000 pending\n",
  ],
  ["{{json .Router.Targets}}", '["10.0.0.2:6783","10.0.0.3:6783"]'],
  ["{{if .Ready}}ready{{else}}not ready{{end}}", "ready"],
  ["{{range .Router.TrustedSubnets}}x{{else}}none{{end}}", "none"],
  ["{{with .IPAM}}{{.Range}}{{end}}", "10.32.0.0/12"],
  ['{{printf "%-8s|%4d|" .Router.NickName (len .Router.Peers)}}', "node-1  |   1|"],
  ["{{.Router.Targets}}", "[10.0.0.2:6783 10.0.0.3:6783]"],
  ['{{.IPAM.PendingAllocates | printf "%d pending"}}', "0 pending"],
  ["{{index .Router.Targets 1}}", "10.0.0.3:6783"],
  ['{{if eq .Version "0.1.0"}}v{{end}}', "v"],
  ["{{range .Router.Peers}}{{.Name}}{{$.Router.Name}}{{end}}", "aa0a:39:ab:6e:42:c6"],
  ["a  {{- .Version -}}  b", "a0.1.0b"],
  ["{{if not .Ready}}x{{else if .Router}}y{{end}}", "y"],
];

Deno.test("go template: Weave's report templates over weavets' report", () => {
  for (const [t, want] of cases) assert.equal(renderTemplate(t, REPORT), want, t);
});

Deno.test("go template: errors name the problem (negative controls)", () => {
  const bad: Array<[string, RegExp]> = [
    ["{{.Router.Nope}}", /can't evaluate field Nope: there are name, nickname/],
    ["{{range .Router.Targets}}", /missing \{\{end\}\}/],
    ["{{end}}", /unexpected \{\{end\}\}/],
    ["{{.Ready", /unclosed action/],
    ["{{frobnicate .}}", /function "frobnicate" not defined/],
    ['{{template "x"}}', /not supported/],
    ["{{if}}x{{end}}", /missing value for \{\{if\}\}/],
  ];
  for (const [t, re] of bad) {
    assert.throws(
      () => renderTemplate(t, REPORT),
      (e) => e instanceof TemplateError && re.test(e.message),
      t,
    );
  }
});

Deno.test("go template: bounded — a template cannot make the daemon work forever", () => {
  const wide = { xs: Array.from({ length: 1000 }, (_, i) => i) };
  const nested = "{{range .xs}}".repeat(3) + "x" + "{{end}}".repeat(3);
  assert.throws(() => renderTemplate(nested, { ...wide, xs: wide.xs }), TemplateError);
  assert.throws(() => renderTemplate(`{{${"(".repeat(5000)}}}`, {}), /nested too deeply/);
  assert.throws(() => renderTemplate("{{if .}}".repeat(100), {}), /nested too deeply/);
  assert.throws(() => renderTemplate("x".repeat(70_000), {}), /longer than/);
});

Deno.test("go template: printf as Go's", () => {
  assert.equal(printf("%s=%v %q %5.1f%%", ["a", 3, "b", 2.75]), 'a=3 "b"   2.8%');
  assert.equal(printf("%s %s", ["a"]), "a %!s(MISSING)");
});
