#!/usr/bin/env node
// validate.mjs [--out DIR] MANIFEST...: offline checks of the Kubernetes
// examples in packaging/kubernetes/, run by test/packaging/check-k8s.
//
// For every manifest:
// - every YAML document is parsed as Kubernetes does (YAML 1.1, duplicate
//   keys are errors) and validated against its kind's schema with
//   kubernetes-models. Its validators accept fields the schema does not
//   know (the Kubernetes schemas do not set additionalProperties), so
//   validation runs on a proxy that records which fields the validator
//   looks up: a field it never asked for is unknown, as with kubectl's
//   strict field validation. An unknown apiVersion/kind is an error too.
// - the container that runs `sidecar run -c PATH` (PATH's directory is a
//   volumeMount of a ConfigMap volume, the file name its data key) and the
//   config embedded in that ConfigMap must agree: liveness, readiness and
//   (if any) startup probes are httpGet on sidecar's endpoints at the port
//   of http.listen; terminationGracePeriodSeconds is longer than
//   shutdown.drain plus every service's stop_timeout; every ${VAR} with
//   no default is set in the container's env; a sidecar among the
//   initContainers has restartPolicy Always (a native sidecar), and its
//   startupProbe does not wait on /startupz for critical probes of
//   containers that start only after it.
// - a few rules the API server enforces beyond the schema: a workload's
//   selector matches its pod template, liveness and startup probes have
//   successThreshold 1, plain init containers have no probes; and each
//   Service selects a pod template of the file and its named targetPorts
//   exist there.
// With --out DIR, each embedded config is written verbatim to
// DIR/<manifest>.sidecar.yaml and the container's environment to
// DIR/<manifest>.env (KEY=VALUE lines) for `sidecar check`.
//
// With --docs FILE (repeatable; README.md, sidecar.8 with its roff dash
// and quote escapes undone), what the docs say of the manifests:
// - every `kubectl logs|exec` of deploy/NAME, pod/NAME or NAME in them
//   and in the manifests' own comments names a workload of the manifests,
//   and the container it reaches (-c, else kubectl's default: the
//   default-container annotation or the first of containers) runs
//   sidecar, whose log and commands these are;
// - every kubelet probe they show (`readinessProbe: { ... }` on one line,
//   or indented under `readinessProbe:`) has the periodSeconds and
//   failureThreshold (kubelet's defaults 10 and 3 when left out) of that
//   probe on a container that runs sidecar as its entrypoint.
//
// Prints one line per manifest on stdout:
//   validate: FILE: ok (N documents; probes LIVE READY START on port P; grace Gs > Ns)
// or the problems, as FILE:LINE:COL: message on stderr, then
//   validate: FILE: FAILED (N problems)
// and with --docs one line for them: validate: docs: ok (...) or FAILED.
// Exit status: 0 all ok, 1 a problem, 2 usage.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import YAML, { LineCounter } from "yaml";

const require = createRequire(import.meta.url);
const MODELS_VERSION = require("kubernetes-models/package.json").version;

// sidecar's defaults (README, sidecar.yaml.example) and Kubernetes'.
const LISTEN_DEFAULT = "0.0.0.0:8558";
const DRAIN_DEFAULT = "5s";
const STOP_TIMEOUT_DEFAULT = "10s";
const GRACE_DEFAULT_S = 30;
const DURATION_MAX_MS = 365n * 24n * 3600n * 1000n;
const SIDECAR_DEFAULT_CONFIG = "/etc/sidecar/sidecar.yaml";
// Set in every container by the runtime, whatever the manifest says.
const RUNTIME_ENV = ["HOSTNAME"];

const ENDPOINTS = ["/livez", "/healthz", "/readyz", "/startupz"];
const PROBE_PATHS = {
    livenessProbe: ["/livez", "/healthz"],
    readinessProbe: ["/readyz"],
    startupProbe: ["/startupz", "/livez", "/healthz"],
};

// Where the pod template of each workload kind is.
const POD_SPEC_PATHS = {
    Pod: ["spec"],
    Deployment: ["spec", "template", "spec"],
    ReplicaSet: ["spec", "template", "spec"],
    StatefulSet: ["spec", "template", "spec"],
    DaemonSet: ["spec", "template", "spec"],
    Job: ["spec", "template", "spec"],
    ReplicationController: ["spec", "template", "spec"],
    CronJob: ["spec", "jobTemplate", "spec", "template", "spec"],
};

// ---------------------------------------------------------------- models

// The model class of apiVersion/kind: kubernetes-models has a module per
// API group version ("v1", "apps/v1", "networking.k8s.io/v1"); loading
// only those needed halves the start-up time.
async function modelFor(apiVersion, kind) {
    if (!/^([a-z0-9]([a-z0-9.-]*[a-z0-9])?\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion))
        return null;
    let mod;
    try {
        mod = await import(`kubernetes-models/${apiVersion}`);
    } catch {
        return null;
    }
    const model = mod[kind];
    return typeof model === "function" && model.kind === kind && model.apiVersion === apiVersion ? model : null;
}

// The apiVersions kubernetes-models has kind in, for a hint.
async function apiVersionsOf(kind) {
    const out = [];
    (function collect(ns, depth) {
        for (const value of Object.values(ns)) {
            if (typeof value === "function" && value.kind === kind && typeof value.apiVersion === "string")
                out.push(value.apiVersion);
            else if (value && typeof value === "object" && depth < 3)
                collect(value, depth + 1);
        }
    })(await import("kubernetes-models"), 0);
    return [...new Set(out)];
}

// Wraps root in proxies that record, per object, which keys were looked
// up and whether its keys were listed (as validators do for maps).
function recordLookups(root) {
    const seen = new Map();
    const proxies = new WeakMap();
    function wrap(value) {
        if (value === null || typeof value !== "object")
            return value;
        if (proxies.has(value))
            return proxies.get(value);
        const rec = { gets: new Set(), listed: false };
        seen.set(value, rec);
        const proxy = new Proxy(value, {
            get(t, k, r) {
                if (typeof k === "string")
                    rec.gets.add(k);
                return wrap(Reflect.get(t, k, r));
            },
            has(t, k) {
                if (typeof k === "string")
                    rec.gets.add(k);
                return Reflect.has(t, k);
            },
            ownKeys(t) {
                rec.listed = true;
                return Reflect.ownKeys(t);
            },
        });
        proxies.set(value, proxy);
        return proxy;
    }
    return { proxy: wrap(root), seen };
}

// Paths of the fields of value that the validator never looked up. An
// object it did not look into at all is free-form (no schema): skipped.
function unknownFields(value, seen, at, out) {
    if (value === null || typeof value !== "object")
        return out;
    if (Array.isArray(value)) {
        value.forEach((v, i) => unknownFields(v, seen, [...at, i], out));
        return out;
    }
    const rec = seen.get(value);
    if (!rec || (rec.gets.size === 0 && !rec.listed))
        return out;
    for (const key of Object.keys(value)) {
        if (!rec.listed && !rec.gets.has(key))
            out.push([...at, key]);
        else
            unknownFields(value[key], seen, [...at, key], out);
    }
    return out;
}

// Kubernetes reads null as "not set".
function dropNulls(value) {
    if (Array.isArray(value))
        return value.map(dropNulls);
    if (value && typeof value === "object") {
        const out = {};
        for (const [k, v] of Object.entries(value))
            if (v !== null)
                out[k] = dropNulls(v);
        return out;
    }
    return value;
}

function decodePointer(ptr) {
    if (!ptr)
        return [];
    return ptr.slice(1).split("/").map((s) => {
        const k = s.replace(/~1/g, "/").replace(/~0/g, "~");
        return /^(0|[1-9][0-9]*)$/.test(k) ? Number(k) : k;
    });
}

// One message per path from ajv's errors.
function schemaMessages(errors) {
    const byPath = new Map();
    for (const e of errors) {
        if (!byPath.has(e.instancePath))
            byPath.set(e.instancePath, []);
        byPath.get(e.instancePath).push(e);
    }
    const out = [];
    for (const [ptr, errs] of byPath) {
        const alternatives = errs.some((e) => e.keyword === "oneOf" || e.keyword === "anyOf");
        const types = errs.filter((e) => e.keyword === "type").map((e) => e.params.type);
        const msgs = [];
        if (alternatives && types.length > 0)
            msgs.push(`must be ${types.join(" or ")}`);
        for (const e of errs) {
            if (e.keyword === "oneOf" || e.keyword === "anyOf" || (alternatives && e.keyword === "type"))
                continue;
            if (e.keyword === "enum")
                msgs.push(`must be one of ${e.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`);
            else if (e.keyword === "required")
                msgs.push(`missing required field '${e.params.missingProperty}'`);
            else
                msgs.push(e.message);
        }
        out.push({ at: decodePointer(ptr), message: [...new Set(msgs)].join("; ") });
    }
    return out;
}

// ------------------------------------------------------- sidecar's syntax

// A duration as sidecar reads it (conf/parse.c): "0", or terms like 250ms,
// 5s, 1m, 2h, 1.5s, summed (1m30s); whole milliseconds, at most 365 days.
// Returns milliseconds, or null.
export function parseDuration(text) {
    if (text === "0")
        return 0;
    if (typeof text !== "string" || text === "")
        return null;
    const units = { ms: 1n, s: 1000n, m: 60000n, h: 3600000n };
    const term = /([0-9]+)(?:\.([0-9]+))?([A-Za-z]*)/y;
    let total = 0n;
    while (term.lastIndex < text.length) {
        const m = term.exec(text);
        if (!m || m[2]?.length > 9 || !(m[3] in units))
            return null;
        const factor = units[m[3]];
        const scale = 10n ** BigInt(m[2]?.length ?? 0);
        const frac = BigInt(m[2] ?? "0") * factor;
        if (frac % scale !== 0n)
            return null; // finer than a millisecond
        total += BigInt(m[1]) * factor + frac / scale;
        if (total > DURATION_MAX_MS)
            return null;
    }
    return Number(total);
}

export function formatSeconds(ms) {
    return `${ms / 1000}s`;
}

// "host:port", ":port" or "[v6]:port" (conf/parse.c) -> {host, port}.
function parseListen(text) {
    const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:[\]]*):([0-9]+)$/.exec(text);
    if (!m || Number(m[2]) > 65535)
        return null;
    return { host: m[1], port: Number(m[2]) };
}

function isLoopback(host) {
    return host === "localhost" || host === "::1" || /^127\.[0-9.]+$/.test(host);
}

// The ${...} references in a value, as sidecar expands them: $$ is a
// literal $, $X without braces stays as written.
export function references(text) {
    const out = [];
    for (let i = 0; i < text.length;) {
        if (text[i] === "$" && text[i + 1] === "{") {
            const end = text.indexOf("}", i + 2);
            if (end < 0)
                break;
            const m = /^([A-Za-z_][A-Za-z0-9_]*)(:-([^$]*))?$/s.exec(text.slice(i + 2, end));
            if (m)
                out.push({ name: m[1], fallback: m[2] === undefined ? null : m[3] });
            i = end + 1;
        } else {
            i += text[i] === "$" && text[i + 1] === "$" ? 2 : 1;
        }
    }
    return out;
}

// text with its references replaced from env (a Map name -> value, where
// undefined means set to a value unknown here); null if a value is unknown.
function expand(text, env) {
    let out = "";
    for (let i = 0; i < text.length;) {
        if (text[i] === "$" && text[i + 1] === "{") {
            const end = text.indexOf("}", i + 2);
            const ref = end < 0 ? null : references(text.slice(i, end + 1))[0];
            if (!ref)
                return null;
            const value = env.get(ref.name);
            if (env.has(ref.name) && value === undefined)
                return null;
            if (ref.fallback !== null && (value === undefined || value === ""))
                out += ref.fallback;
            else if (value === undefined)
                return null;
            else
                out += value;
            i = end + 1;
        } else if (text[i] === "$") {
            out += "$";
            i += text[i + 1] === "$" ? 2 : 1;
        } else {
            out += text[i++];
        }
    }
    return out;
}

// The embedded sidecar.yaml with every scalar as sidecar sees it: text,
// whatever the quoting; a plain empty, ~ or null is "not set".
function sidecarTree(node, doc) {
    if (YAML.isAlias(node))
        return sidecarTree(node.resolve(doc), doc);
    if (YAML.isMap(node)) {
        const out = { kind: "map", node, entries: new Map() };
        for (const pair of node.items)
            out.entries.set(String(pair.key?.value ?? ""), { key: pair.key, value: sidecarTree(pair.value, doc) });
        return out;
    }
    if (YAML.isSeq(node))
        return { kind: "seq", node, items: node.items.map((n) => sidecarTree(n, doc)) };
    if (!node)
        return null;
    const text = node.value == null ? "" : String(node.value);
    if (node.type === "PLAIN" && ["", "~", "null", "Null", "NULL"].includes(text))
        return null;
    return { kind: "scalar", node, text };
}

function entry(tree, ...keys) {
    let t = tree;
    for (const k of keys) {
        if (!t || t.kind !== "map" || !t.entries.has(k))
            return null;
        t = t.entries.get(k).value;
    }
    return t;
}

// -------------------------------------------------------------- manifests

function plainObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

function dig(obj, keys) {
    let v = obj;
    for (const k of keys) {
        if (v === null || typeof v !== "object")
            return undefined;
        v = v[k];
    }
    return v;
}

function fieldPath(at) {
    return at.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

// sidecar's argv in a container: the config path it runs with, or null.
function sidecarConfigPath(container) {
    const argv = [...(container.command ?? []), ...(container.args ?? [])].map(String);
    const runAt = argv.findIndex((a, i) =>
        a === "run" && (i === 0 || path.posix.basename(argv[i - 1]) === "sidecar"));
    if (runAt < 0)
        return null;
    const byName = runAt > 0;
    for (let i = runAt + 1; i < argv.length; i++) {
        const a = argv[i];
        if ((a === "-c" || a === "--config") && i + 1 < argv.length)
            return argv[i + 1];
        if (a.startsWith("--config="))
            return a.slice("--config=".length);
        if (a.startsWith("-c") && a.length > 2 && !a.startsWith("--"))
            return a.slice(2);
    }
    if (!byName)
        return null; // "run" alone could be any program's argument
    const fromEnv = (container.env ?? []).find((e) => e.name === "SIDECAR_CONFIG")?.value;
    return fromEnv || SIDECAR_DEFAULT_CONFIG;
}

function selectorMatches(selector, labels) {
    return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

class Manifest {
    constructor(file) {
        this.file = file;
        this.base = path.basename(file).replace(/\.ya?ml$/, "");
        this.problems = [];
        this.docs = [];       // { doc, lc, obj, index }
        this.summaries = [];
        this.outputs = [];
    }

    where(d, at, { key = false } = {}) {
        const pos = this.locate(d, at, key);
        return `${this.file}:${pos.line}:${pos.col}`;
    }

    // Line and column of the node at path at (its key with key), or of the
    // nearest enclosing node that exists.
    locate(d, at, key) {
        let node = d.doc.contents;
        let offset = node?.range?.[0] ?? 0;
        for (let i = 0; i < at.length; i++) {
            if (YAML.isAlias(node))
                node = node.resolve(d.doc);
            let next, keyNode = null;
            if (YAML.isMap(node)) {
                const pair = node.items.find((p) => String(p.key?.value) === String(at[i]));
                if (!pair)
                    break;
                keyNode = pair.key;
                next = pair.value;
            } else if (YAML.isSeq(node) && typeof at[i] === "number" && node.items[at[i]]) {
                next = node.items[at[i]];
            } else {
                break;
            }
            const last = i === at.length - 1;
            if (keyNode?.range && (!next?.range || (last && key)))
                offset = keyNode.range[0];
            else if (next?.range)
                offset = next.range[0];
            if (!next)
                break;
            node = next;
        }
        return d.lc.linePos(offset);
    }

    fail(where, message) {
        this.problems.push(`${where}: ${message}`);
    }

    parse(text) {
        const lc = new LineCounter();
        const docs = YAML.parseAllDocuments(text, {
            version: "1.1", uniqueKeys: true, prettyErrors: false, lineCounter: lc,
        });
        if (!Array.isArray(docs) || docs.length === 0) {
            this.fail(`${this.file}:1:1`, "no YAML document");
            return;
        }
        docs.forEach((doc, i) => {
            const d = { doc, lc, index: i + 1, obj: null };
            for (const e of [...doc.errors, ...doc.warnings]) {
                const p = lc.linePos(e.pos[0]);
                this.fail(`${this.file}:${p.line}:${p.col}`, e.message);
            }
            if (doc.errors.length > 0 || doc.warnings.length > 0)
                return;
            if (doc.contents == null || (YAML.isScalar(doc.contents) && doc.contents.value == null))
                return; // an empty document, as after a trailing ---
            d.obj = doc.toJS({ maxAliasCount: 1000 });
            this.docs.push(d);
        });
    }

    async validateSchemas() {
        for (const d of this.docs) {
            const obj = d.obj;
            if (!plainObject(obj)) {
                this.fail(this.where(d, []), `document ${d.index} is not a mapping`);
                continue;
            }
            if (typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
                this.fail(this.where(d, []), `document ${d.index} has no apiVersion and kind`);
                continue;
            }
            const Model = await modelFor(obj.apiVersion, obj.kind);
            if (!Model) {
                const known = await apiVersionsOf(obj.kind);
                const hint = known.length ? ` (${obj.kind} is in ${known.join(", ")})` : "";
                this.fail(this.where(d, ["kind"]),
                    `unknown kind ${obj.apiVersion} ${obj.kind}${hint}`);
                continue;
            }
            const model = new Model(dropNulls(obj));
            const { proxy, seen } = recordLookups(model);
            let errors = [];
            try {
                proxy.validate();
            } catch (e) {
                if (!Array.isArray(e.errors))
                    throw e;
                errors = e.errors;
            }
            const name = obj.metadata?.name ?? "(no name)";
            for (const { at, message } of schemaMessages(errors))
                this.fail(this.where(d, at), `${obj.kind} ${name}: ${fieldPath(at) || "document"}: ${message}`);
            for (const at of unknownFields(model, seen, [], []))
                this.fail(this.where(d, at, { key: true }), `${obj.kind} ${name}: ${fieldPath(at)}: unknown field`);
        }
    }

    // Each pod template of the file: { d, at (path of the pod spec), spec,
    // labels, name, kind }.
    podTemplates() {
        const out = [];
        for (const d of this.docs) {
            const at = POD_SPEC_PATHS[d.obj?.kind];
            const spec = at && dig(d.obj, at);
            if (!plainObject(spec))
                continue;
            const meta = d.obj.kind === "Pod" ? d.obj.metadata : dig(d.obj, [...at.slice(0, -1), "metadata"]);
            out.push({ d, at, spec, labels: meta?.labels ?? {}, name: d.obj.metadata?.name, kind: d.obj.kind });
        }
        return out;
    }

    configMaps() {
        return this.docs.filter((d) => d.obj?.kind === "ConfigMap" && d.obj.apiVersion === "v1");
    }

    checkApiRules() {
        const templates = this.podTemplates();
        for (const t of templates) {
            const sel = t.kind === "Pod" || t.kind === "CronJob" || t.kind === "Job"
                ? null : dig(t.d.obj, ["spec", "selector"]);
            const matchLabels = t.kind === "ReplicationController" ? sel : sel?.matchLabels;
            if (matchLabels && !selectorMatches(matchLabels, t.labels))
                this.fail(this.where(t.d, ["spec", "selector"]),
                    `${t.kind} ${t.name}: selector does not match the pod template's labels`);
            for (const group of ["initContainers", "containers"]) {
                (t.spec[group] ?? []).forEach((c, i) => {
                    const at = [...t.at, group, i];
                    for (const probe of ["livenessProbe", "startupProbe"]) {
                        const st = c[probe]?.successThreshold;
                        if (st !== undefined && st !== 1)
                            this.fail(this.where(t.d, [...at, probe, "successThreshold"]),
                                `${fieldPath([group, i, probe])}.successThreshold must be 1`);
                    }
                    if (group === "initContainers" && c.restartPolicy !== "Always")
                        for (const f of ["livenessProbe", "readinessProbe", "startupProbe", "lifecycle"])
                            if (c[f] !== undefined)
                                this.fail(this.where(t.d, [...at, f], { key: true }),
                                    `init container ${c.name}: ${f} is allowed only with restartPolicy: Always`);
                });
            }
        }
        for (const d of this.docs) {
            if (d.obj?.kind !== "Service" || d.obj.apiVersion !== "v1")
                continue;
            const selector = d.obj.spec?.selector;
            if (!selector || d.obj.spec?.type === "ExternalName")
                continue;
            const selected = templates.filter((t) => selectorMatches(selector, t.labels));
            const name = d.obj.metadata?.name;
            if (selected.length === 0) {
                this.fail(this.where(d, ["spec", "selector"]),
                    `Service ${name}: its selector matches no pod template of this file`);
                continue;
            }
            (d.obj.spec.ports ?? []).forEach((p, i) => {
                if (typeof p.targetPort !== "string")
                    return;
                for (const t of selected) {
                    const containers = [...(t.spec.containers ?? []),
                        ...(t.spec.initContainers ?? []).filter((c) => c.restartPolicy === "Always")];
                    if (!containers.some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)))
                        this.fail(this.where(d, ["spec", "ports", i, "targetPort"]),
                            `Service ${name}: targetPort '${p.targetPort}' is not a named port of ${t.kind} ${t.name}`);
                }
            });
        }
    }

    checkSidecars() {
        let found = 0;
        for (const t of this.podTemplates()) {
            for (const group of ["initContainers", "containers"]) {
                (t.spec[group] ?? []).forEach((c, i) => {
                    const configPath = sidecarConfigPath(c);
                    if (configPath === null)
                        return;
                    found++;
                    this.checkSidecar(t, group, i, c, configPath);
                });
            }
        }
        if (found === 0)
            this.fail(`${this.file}:1:1`, "no container runs `sidecar run -c FILE`");
    }

    // The ConfigMap and data key that provide configPath in container c,
    // through a volumeMount of its directory (or of the file, with subPath).
    findConfig(t, c, at, configPath) {
        const dir = path.posix.dirname(configPath);
        const file = path.posix.basename(configPath);
        const norm = (p) => (p.length > 1 ? p.replace(/\/+$/, "") : p);
        const mounts = c.volumeMounts ?? [];
        let mount = mounts.find((m) => !m.subPath && norm(m.mountPath ?? "") === dir);
        let keyPath = file;
        if (!mount) {
            mount = mounts.find((m) => m.subPath && norm(m.mountPath ?? "") === configPath);
            keyPath = mount?.subPath;
        }
        const configMapHolders = this.configMaps().filter((d) => typeof d.obj.data?.["sidecar.yaml"] === "string");
        if (!mount) {
            this.fail(this.where(t.d, [...at, "volumeMounts"], { key: true }),
                `container ${c.name} runs sidecar with ${configPath}, but no volumeMount has ${dir}` +
                (configMapHolders.length ? ` (ConfigMap ${configMapHolders[0].obj.metadata?.name} holds sidecar.yaml)` : ""));
            return null;
        }
        const mountAt = [...at, "volumeMounts", mounts.indexOf(mount)];
        const volumes = t.spec.volumes ?? [];
        const vi = volumes.findIndex((v) => v.name === mount.name);
        if (vi < 0) {
            this.fail(this.where(t.d, [...mountAt, "name"]), `volumeMount ${mount.name}: no such volume`);
            return null;
        }
        const volume = volumes[vi];
        const sources = volume.configMap ? [volume.configMap]
            : (volume.projected?.sources ?? []).map((s) => s.configMap).filter(Boolean);
        if (sources.length === 0) {
            this.fail(this.where(t.d, [...t.at, "volumes", vi], { key: true }),
                `volume ${volume.name} (mounted at ${mount.mountPath} for ${configPath}) is not a ConfigMap volume`);
            return null;
        }
        for (const src of sources) {
            // With items, a key appears under its item's path only.
            const key = src.items ? src.items.find((it) => it.path === keyPath)?.key : keyPath;
            const cm = this.configMaps().find((d) => d.obj.metadata?.name === src.name);
            if (key === undefined)
                continue;
            if (!cm) {
                this.fail(this.where(t.d, [...t.at, "volumes", vi], { key: true }),
                    `volume ${volume.name} uses ConfigMap ${src.name}, which this file does not define`);
                return null;
            }
            if (typeof cm.obj.data?.[key] !== "string")
                continue;
            if (key !== "sidecar.yaml")
                this.fail(this.where(cm, ["data"], { key: true }),
                    `ConfigMap ${src.name}: sidecar's config is under data key '${key}', expected 'sidecar.yaml'`);
            return { cm, key };
        }
        const names = sources.map((s) => s.name).join(", ");
        this.fail(this.where(t.d, [...mountAt, "mountPath"]),
            `${configPath}: ConfigMap ${names} mounted at ${mount.mountPath} has no data key for '${keyPath}'` +
            (configMapHolders.length ? ` (ConfigMap ${configMapHolders.map((d) => d.obj.metadata?.name).join(", ")} has sidecar.yaml)` : ""));
        return null;
    }

    // The container's environment: name -> value, undefined when set from a
    // source this file does not give (valueFrom, envFrom of a Secret).
    containerEnv(c) {
        const env = new Map();
        const unknownSources = [];
        for (const ef of c.envFrom ?? []) {
            const cm = ef.configMapRef && this.configMaps().find((d) => d.obj.metadata?.name === ef.configMapRef.name);
            if (cm)
                for (const [k, v] of Object.entries(cm.obj.data ?? {}))
                    env.set(`${ef.prefix ?? ""}${k}`, String(v));
            else
                unknownSources.push(ef.configMapRef ? `ConfigMap ${ef.configMapRef.name}` : `Secret ${ef.secretRef?.name}`);
        }
        for (const e of c.env ?? []) {
            if (e.value !== undefined) {
                // Kubernetes expands $(VAR) from the variables before it.
                env.set(e.name, String(e.value).replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g,
                    (m, name) => (m === "$$" ? "$" : env.get(name) ?? m)));
            } else if (e.valueFrom) {
                env.set(e.name, undefined);
            } else {
                env.set(e.name, "");
            }
        }
        return { env, unknownSources };
    }

    checkSidecar(t, group, i, c, configPath) {
        const at = [...t.at, group, i];
        const label = `container ${c.name}`;
        const native = group === "initContainers";
        if (native && c.restartPolicy !== "Always")
            this.fail(this.where(t.d, at), `${label} runs sidecar as an init container without ` +
                "restartPolicy: Always: it never exits, so the pod never starts (a native sidecar needs restartPolicy: Always)");
        const found = this.findConfig(t, c, at, configPath);
        if (!found)
            return;
        const { cm, key } = found;
        const text = cm.obj.data[key];

        // Positions in the config map to the manifest when it is a block
        // scalar (data: sidecar.yaml: |).
        const block = cm.doc.getIn(["data", key], true);
        let mapPos = () => this.where(cm, ["data", key], { key: true });
        if (YAML.isScalar(block) && (block.type === "BLOCK_LITERAL") && block.range) {
            const header = cm.lc.linePos(block.range[0]).line;
            const lines = this.text.split("\n").slice(header);
            const first = lines.find((l) => l.trim() !== "");
            const indent = first ? first.length - first.trimStart().length : 0;
            mapPos = (lc, offset) => {
                const p = lc.linePos(offset);
                return `${this.file}:${header + p.line}:${indent + p.col}`;
            };
        }
        const clc = new LineCounter();
        const cdoc = YAML.parseDocument(text, { schema: "failsafe", uniqueKeys: true, prettyErrors: false, lineCounter: clc });
        const cwhere = (node) => mapPos(clc, node?.range?.[0] ?? 0);
        for (const e of [...cdoc.errors, ...cdoc.warnings])
            this.fail(mapPos(clc, e.pos[0]), `ConfigMap ${cm.obj.metadata?.name} ${key}: ${e.message}`);
        if (cdoc.errors.length > 0)
            return;
        const tree = sidecarTree(cdoc.contents, cdoc);

        // ${VAR} without a default must be set in the container's env.
        const { env, unknownSources } = this.containerEnv(c);
        const known = new Map(env);
        for (const name of RUNTIME_ENV)
            if (!known.has(name))
                known.set(name, undefined);
        YAML.visit(cdoc, {
            Scalar: (k, node) => {
                if (k === "key" || typeof node.value !== "string")
                    return;
                for (const ref of references(node.value)) {
                    if (ref.fallback === null && !known.has(ref.name))
                        this.fail(cwhere(node), `\${${ref.name}} has no default and is not set in the env of ${label}` +
                            (unknownSources.length ? ` (unless it comes from envFrom ${unknownSources.join(", ")}, which this file does not define)` : ""));
                }
            },
        });
        // A value as sidecar would use it (null: not checkable here; a
        // value of the wrong shape is left to `sidecar check`).
        const value = (node, what) => {
            if (!node || node.kind !== "scalar")
                return null;
            const v = expand(node.text, known);
            if (v === null)
                this.fail(cwhere(node.node), `${what}: cannot be checked: '${node.text}' uses a variable whose value this file does not give`);
            return v;
        };

        // http.listen: the port kubelet's probes must use.
        const listenNode = entry(tree, "http", "listen");
        const listenText = listenNode ? value(listenNode, "http.listen") : LISTEN_DEFAULT;
        const listen = listenText === null ? null : parseListen(listenText);
        if (listenText !== null && !listen)
            this.fail(cwhere(listenNode?.node), `http.listen: '${listenText}' is not host:port`);
        if (listen && listen.port === 0)
            this.fail(cwhere(listenNode?.node), "http.listen: port 0 is an ephemeral port that kubelet cannot probe");
        if (listen && isLoopback(listen.host))
            this.fail(cwhere(listenNode?.node), `http.listen: ${listen.host} is loopback, but kubelet probes the pod IP; use ":${listen.port}"`);

        const ports = new Map((c.ports ?? []).filter((p) => p.name).map((p) => [p.name, p.containerPort]));
        const paths = [];
        const criticalOutside = [];
        const probes = entry(tree, "probes");
        if (probes?.kind === "map")
            for (const [name, { value: p }] of probes.entries) {
                const importance = entry(p, "importance")?.text ?? "critical";
                if (importance === "critical" && !entry(p, "service"))
                    criticalOutside.push(name);
            }
        for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
            const spec = c[probe];
            const pat = [...at, probe];
            if (spec === undefined) {
                if (probe !== "startupProbe")
                    this.fail(this.where(t.d, at), `${label} has no ${probe}; point it at sidecar's ${PROBE_PATHS[probe][0]}`);
                continue;
            }
            if (!spec.httpGet) {
                const kind = Object.keys(spec).find((k) => ["exec", "tcpSocket", "grpc"].includes(k));
                this.fail(this.where(t.d, pat, { key: true }), `${label}: ${probe} ${kind ? `is ${kind}` : "has no handler"}; ` +
                    `expected httpGet of sidecar's ${PROBE_PATHS[probe].join(" or ")}`);
                continue;
            }
            const hg = spec.httpGet;
            const p = String(hg.path ?? "/").split("?")[0];
            paths.push(p);
            if (!ENDPOINTS.includes(p))
                this.fail(this.where(t.d, [...pat, "httpGet", "path"]), `${label}: ${probe} path ${p} is not one of sidecar's endpoints (${ENDPOINTS.join(" ")})`);
            else if (!PROBE_PATHS[probe].includes(p))
                this.fail(this.where(t.d, [...pat, "httpGet", "path"]), `${label}: ${probe} on ${p}; expected ${PROBE_PATHS[probe].join(" or ")}`);
            if (hg.scheme && hg.scheme !== "HTTP")
                this.fail(this.where(t.d, [...pat, "httpGet", "scheme"]), `${label}: ${probe} scheme ${hg.scheme}; sidecar serves plain HTTP`);
            let port = hg.port;
            if (typeof port === "string") {
                if (!ports.has(port)) {
                    this.fail(this.where(t.d, [...pat, "httpGet", "port"]), `${label}: ${probe} port '${port}' is not a named port of the container`);
                    continue;
                }
                port = ports.get(port);
            }
            if (listen && port !== listen.port)
                this.fail(this.where(t.d, [...pat, "httpGet", "port"]),
                    `${label}: ${probe} port ${hg.port}${hg.port !== port ? ` (${port})` : ""} is not sidecar's http.listen port ${listen.port}`);
            // A native sidecar's startupProbe holds back the containers
            // after it; /startupz waits for every critical probe, which
            // (outside sidecar's own services) checks those containers.
            if (probe === "startupProbe" && native && p === "/startupz" && criticalOutside.length > 0)
                this.fail(this.where(t.d, [...pat, "httpGet", "path"]),
                    `${label}: startupProbe on /startupz of a native sidecar waits for critical probe ${criticalOutside.join(", ")} ` +
                    "to pass once, but the app containers start only after this startupProbe passes: a deadlock if they are what it checks; use /livez");
        }

        // terminationGracePeriodSeconds > drain + every stop_timeout.
        const graceS = t.spec.terminationGracePeriodSeconds ?? GRACE_DEFAULT_S;
        let needMs = 0;
        let needOk = true;
        const addDuration = (node, fallback, what) => {
            const text = node ? value(node, what) : fallback;
            if (text === null) {
                needOk = false;
                return;
            }
            const ms = parseDuration(text);
            if (ms === null) {
                this.fail(cwhere(node?.node), `${what}: '${text}' is not a duration (250ms, 5s, 1m30s, 1.5s, 0)`);
                needOk = false;
            } else {
                needMs += ms;
            }
        };
        addDuration(entry(tree, "shutdown", "drain"), DRAIN_DEFAULT, "shutdown.drain");
        const services = entry(tree, "services");
        if (services?.kind === "map")
            for (const [name, { value: s }] of services.entries)
                addDuration(entry(s, "stop_timeout"), STOP_TIMEOUT_DEFAULT, `services.${name}.stop_timeout`);
        if (needOk && !(graceS * 1000 > needMs))
            this.fail(this.where(t.d, [...t.at, "terminationGracePeriodSeconds"], { key: true }),
                `terminationGracePeriodSeconds ${graceS}${t.spec.terminationGracePeriodSeconds === undefined ? " (default)" : ""} ` +
                `is not longer than shutdown.drain plus every stop_timeout: ${formatSeconds(needMs)}`);

        const kindNote = native ? "native sidecar; " : "";
        this.summaries.push(`${kindNote}probes ${paths.join(" ")} on port ${listen?.port ?? "?"}; ` +
            `grace ${graceS}s > ${formatSeconds(needMs)}`);

        // What `sidecar check` needs: the config as is, and the env.
        const lines = [];
        for (const [k, v] of env) {
            const shown = v === undefined ? `(valueFrom of ${k}: not known offline)` : v;
            if (/[\n\r]/.test(shown))
                this.fail(this.where(t.d, [...at, "env"], { key: true }), `env ${k} has a line break: cannot be written to the .env file`);
            lines.push(`${k}=${shown}`);
        }
        if (!env.has("HOSTNAME"))
            lines.push(`HOSTNAME=${t.name ?? "pod"}`);
        this.outputs.push({ name: c.name, config: text, env: lines.join("\n") + (lines.length ? "\n" : "") });
    }

    write(outDir) {
        const many = this.outputs.length > 1;
        for (const o of this.outputs) {
            const stem = many ? `${this.base}.${o.name}` : this.base;
            writeFileSync(path.join(outDir, `${stem}.sidecar.yaml`), o.config);
            writeFileSync(path.join(outDir, `${stem}.env`), o.env);
        }
    }
}

// ------------------------------------------------------------------ docs

// A doc as a reader sees it: sidecar.8's \- and \(aq are - and '.
function readDoc(file) {
    const text = readFileSync(file, "utf8");
    return /\.[1-9]$/.test(file)
        ? text.replace(/\\-/g, "-").replace(/\\\(aq/g, "'").replace(/\\\(dq/g, '"')
        : text;
}

// Each `kubectl logs|exec` of a pod or Deployment in text: { line, col,
// kind, name, container (-c, or null), text }.
function kubectlCommands(text) {
    const out = [];
    const re = /kubectl\s+(?:logs|exec)\s+(?:(deploy|deployment|deployments|pod|pods|po)\/)?([a-z0-9][a-z0-9.-]*)([^|#\n]*)/g;
    text.split("\n").forEach((l, i) => {
        for (const m of l.matchAll(re)) {
            const flags = m[3].split(" -- ")[0];
            const c = /(?:^|\s)(?:-c|--container)[\s=]+([a-z0-9-]+)/.exec(flags);
            out.push({
                line: i + 1, col: m.index + 1, kind: m[1]?.startsWith("deploy") ? "Deployment" : "Pod",
                name: m[2], container: c ? c[1] : null, text: `${m[0].split(" -- ")[0].trim()}`,
            });
        }
    });
    return out;
}

// Each kubelet probe in text: { line, kind, probe }, from a one-line
// "livenessProbe: { ... }" or the lines indented under "livenessProbe:".
function docProbes(text) {
    const lines = text.split("\n");
    const indent = (l) => l.length - l.trimStart().length;
    const out = [];
    lines.forEach((l, i) => {
        const m = /^(\s*)(startupProbe|readinessProbe|livenessProbe):(.*)$/.exec(l);
        if (!m)
            return;
        let body = m[3];
        if (body.trim() === "" || body.trim().startsWith("#")) {
            let j = i + 1;
            while (j < lines.length && lines[j].trim() !== "" && indent(lines[j]) > m[1].length)
                j++;
            body = "\n" + lines.slice(i + 1, j).join("\n");
        }
        try {
            const probe = YAML.parse(`probe: ${body}`).probe;
            if (plainObject(probe))
                out.push({ line: i + 1, kind: m[2], probe });
        } catch {
            // prose that only looks like a probe
        }
    });
    return out;
}

const probeTiming = (p) => `periodSeconds ${p?.periodSeconds ?? "10 (default)"}, ` +
    `failureThreshold ${p?.failureThreshold ?? "3 (default)"}`;

// The problems of docs (files) against the manifests; counts in stats.
function checkDocs(docs, manifests, stats) {
    const problems = [];
    const workloads = manifests.flatMap((m) => m.podTemplates());
    const runsSidecar = (c) => sidecarConfigPath(c) !== null;
    const entrypoints = workloads.flatMap((t) => (t.spec.containers ?? []).filter(runsSidecar)
        .map((c) => ({ c, t })));
    const sources = [...docs.map((f) => ({ file: f, text: readDoc(f) })),
        ...manifests.map((m) => ({ file: m.file, text: m.text }))];
    for (const { file, text } of sources) {
        for (const k of kubectlCommands(text)) {
            stats.commands++;
            const where = `${file}:${k.line}:${k.col}: \`${k.text}\``;
            const t = workloads.find((w) => w.kind === k.kind && w.name === k.name);
            if (!t) {
                const have = workloads.map((w) => `${w.kind} ${w.name}`).join(", ");
                problems.push(`${where}: no ${k.kind} ${k.name} in the manifests (${have})`);
                continue;
            }
            const meta = t.kind === "Pod" ? t.d.obj.metadata : dig(t.d.obj, [...t.at.slice(0, -1), "metadata"]);
            const name = k.container ?? meta?.annotations?.["kubectl.kubernetes.io/default-container"] ??
                t.spec.containers?.[0]?.name;
            const all = [...(t.spec.initContainers ?? []), ...(t.spec.containers ?? [])];
            const c = all.find((x) => x.name === name);
            const sidecar = all.find(runsSidecar);
            if (!c)
                problems.push(`${where}: ${k.kind} ${k.name} has no container ${name}`);
            else if (!runsSidecar(c))
                problems.push(`${where}: reaches container ${name}${k.container ? "" : " (kubectl's default)"}, ` +
                    `which does not run sidecar${sidecar ? `; -c ${sidecar.name} does` : ""}`);
        }
        if (manifests.some((m) => m.file === file))
            continue;
        for (const p of docProbes(text)) {
            stats.probes++;
            const same = (c) => (c[p.kind]?.periodSeconds ?? 10) === (p.probe.periodSeconds ?? 10) &&
                (c[p.kind]?.failureThreshold ?? 3) === (p.probe.failureThreshold ?? 3);
            if (entrypoints.length > 0 && !entrypoints.some(({ c }) => same(c))) {
                const { c, t } = entrypoints[0];
                problems.push(`${file}:${p.line}: ${p.kind} with ${probeTiming(p.probe)}; ` +
                    `container ${c.name} of ${t.kind} ${t.name} has ${probeTiming(c[p.kind])}`);
            }
        }
    }
    return problems;
}

async function main(argv) {
    let outDir = null;
    const files = [];
    const docs = [];
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--out" && i + 1 < argv.length)
            outDir = argv[++i];
        else if (argv[i].startsWith("--out="))
            outDir = argv[i].slice("--out=".length);
        else if (argv[i] === "--docs" && i + 1 < argv.length)
            docs.push(argv[++i]);
        else if (argv[i].startsWith("-"))
            return usage(`unknown option ${argv[i]}`);
        else
            files.push(argv[i]);
    }
    if (files.length === 0)
        return usage("no manifest given");
    if (outDir)
        mkdirSync(outDir, { recursive: true });
    let failed = 0;
    const valid = [];
    for (const file of files) {
        const m = new Manifest(file);
        try {
            m.text = readFileSync(file, "utf8");
        } catch (e) {
            m.fail(file, e.message);
        }
        if (m.text !== undefined) {
            m.parse(m.text);
            // The other checks assume documents of the right shape.
            if (m.problems.length === 0)
                await m.validateSchemas();
            if (m.problems.length === 0) {
                m.checkApiRules();
                m.checkSidecars();
            }
        }
        if (m.problems.length > 0) {
            failed++;
            for (const p of m.problems)
                process.stderr.write(`validate: ${p}\n`);
            console.log(`validate: ${file}: FAILED (${m.problems.length} problem${m.problems.length > 1 ? "s" : ""})`);
            continue;
        }
        if (outDir)
            m.write(outDir);
        valid.push(m);
        console.log(`validate: ${file}: ok (${m.docs.length} documents; ${m.summaries.join("; ")})`);
    }
    if (docs.length > 0) {
        const stats = { commands: 0, probes: 0 };
        let problems;
        try {
            problems = checkDocs(docs, valid, stats);
        } catch (e) {
            problems = [e.message];
        }
        for (const p of problems)
            process.stderr.write(`validate: ${p}\n`);
        const counts = `${stats.commands} kubectl commands, ${stats.probes} kubelet probes`;
        console.log(`validate: docs: ${problems.length ? `FAILED (${problems.length} problems)` : `ok (${counts})`}`);
        if (problems.length)
            failed++;
    }
    return failed > 0 ? 1 : 0;
}

function usage(why) {
    process.stderr.write(`validate: ${why}\nusage: node validate.mjs [--out DIR] [--docs FILE]... MANIFEST...\n` +
        `(kubernetes-models ${MODELS_VERSION})\n`);
    return 2;
}

// Run as a program, not when imported (for its parsers).
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href)
    process.exitCode = await main(process.argv.slice(2));
