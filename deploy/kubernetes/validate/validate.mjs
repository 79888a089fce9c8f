#!/usr/bin/env node
// Validates rendered Kubernetes manifests (a YAML stream, e.g. the output of
// `kubectl kustomize deploy/kubernetes/overlays/dev`) without an API server:
//
//   1. every object's apiVersion/kind is one the Kubernetes API knows
//      (kubernetes-models 4.x, generated from the Kubernetes OpenAPI spec);
//   2. every object passes its OpenAPI schema (types, enums, required fields,
//      formats) through @kubernetes-models/validate;
//   3. no object has a field its schema does not define (the API server drops
//      such fields silently, or rejects them under strict field validation:
//      a typo like `readinessprobe` would otherwise never be noticed);
//   4. hwnas's own rules for these manifests: workload selectors match their
//      pod labels, every container has resource requests and limits, every
//      Service selects a pod template and names a port the pod exposes, and
//      every Secret/ConfigMap/PersistentVolumeClaim a pod references is
//      rendered (Secrets created by the operator are declared in the pod
//      template's annotation hwnas.dev/external-secrets).
//
// Usage: node validate.mjs FILE.yaml...   ("-" reads standard input)
// Exit 0 when every object is valid; 1 and one line per problem otherwise.
//        node validate.mjs --broken FIXTURE.yaml...
// Exit 0 when every fixture is rejected for the reason its `# expect:` names.
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const modelsRoot = path.dirname(require.resolve("kubernetes-models/package.json"));
const nodeModules = path.dirname(modelsRoot);

// apiVersion "apps/v1" -> kubernetes-models/apps/v1; core "v1" -> kubernetes-models/v1.
function modelDir(apiVersion) {
  return path.join(modelsRoot, ...apiVersion.split("/"));
}

// ---------------------------------------------------------------------------
// Field lists from the models' TypeScript declarations. Each declaration file
// holds one interface whose properties are exactly the OpenAPI properties of
// that definition; their types name the nested definitions by import.

const interfaceCache = new Map(); // .d.ts path -> {props: Map(name -> type)} | null

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

// Splits `body` at `sep` characters that are not nested in <>, {}, ().
function splitTopLevel(body, sep) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "{" || c === "<" || c === "(") depth++;
    else if (c === "}" || c === ">" || c === ")") depth--;
    else if (c === sep && depth === 0) {
      parts.push(body.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(body.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function loadInterface(dtsPath) {
  if (interfaceCache.has(dtsPath)) return interfaceCache.get(dtsPath);
  let result = null;
  if (fs.existsSync(dtsPath)) {
    const text = stripComments(fs.readFileSync(dtsPath, "utf8"));
    const imports = new Map();
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
      for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) {
        imports.set(name, m[2]);
      }
    }
    const head = text.match(/export interface (\w+)(?: extends [\w, ]+)? \{/);
    if (head) {
      // The interface body: from its brace to the matching one.
      let depth = 0;
      let i = head.index + head[0].length - 1;
      const open = i;
      for (; i < text.length; i++) {
        if (text[i] === "{") depth++;
        else if (text[i] === "}" && --depth === 0) break;
      }
      const props = new Map();
      for (const stmt of splitTopLevel(text.slice(open + 1, i), ";")) {
        const m = stmt.match(/^"([^"]+)"\??:\s*([\s\S]+)$/);
        if (m) props.set(m[1], parseType(m[2].trim(), imports, path.dirname(dtsPath)));
      }
      result = { props };
    }
  }
  interfaceCache.set(dtsPath, result);
  return result;
}

// A type node: {kind: "any"} | {kind: "array", of} | {kind: "map", of} | {kind: "ref", file}.
function parseType(t, imports, dir) {
  let m = t.match(/^Array<([\s\S]+)>$/);
  if (m) return { kind: "array", of: parseType(m[1].trim(), imports, dir) };
  m = t.match(/^\{\s*\[key: string\]:\s*([\s\S]+?);?\s*\}$/);
  if (m) return { kind: "map", of: parseType(m[1].trim(), imports, dir) };
  if (/^\w+$/.test(t) && imports.has(t)) {
    const from = imports.get(t);
    const file = from.startsWith(".")
      ? path.join(dir, from + ".d.ts")
      : path.join(nodeModules, from + ".d.ts");
    return { kind: "ref", file };
  }
  return { kind: "any" }; // string, number, boolean, enums, unions, JSON
}

function checkUnknownFields(value, type, where, problems) {
  if (value === null || value === undefined) return;
  if (type.kind === "array") {
    if (Array.isArray(value)) value.forEach((v, i) => checkUnknownFields(v, type.of, `${where}[${i}]`, problems));
  } else if (type.kind === "map") {
    if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) checkUnknownFields(v, type.of, `${where}.${k}`, problems);
    }
  } else if (type.kind === "ref") {
    const iface = loadInterface(type.file);
    if (!iface || typeof value !== "object" || Array.isArray(value)) return; // a type alias: no fields
    for (const [k, v] of Object.entries(value)) {
      const field = iface.props.get(k);
      if (!field) {
        problems.push(`${where}.${k}: unknown field (not in ${path.basename(type.file, ".d.ts")})`);
      } else {
        checkUnknownFields(v, field, `${where}.${k}`, problems);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Schema validation.

function schemaProblems(obj) {
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return { problems: ["apiVersion and kind must be strings"] };
  }
  const dir = modelDir(apiVersion);
  const js = path.join(dir, `${kind}.js`);
  if (!/^[A-Za-z0-9]+$/.test(kind) || !fs.existsSync(js)) {
    return { problems: [`unknown kind ${kind} in ${apiVersion} (not a Kubernetes API type)`] };
  }
  const Model = require(js)[kind];
  const problems = [];
  try {
    new Model(obj).validate();
  } catch (e) {
    // An ajv ValidationError: one line per schema error.
    const errors = e.errors || [];
    if (errors.length === 0) problems.push(`schema: ${e.message}`);
    for (const err of errors) {
      const at = err.instancePath || "/";
      const extra = err.params && Object.keys(err.params).length ? ` ${JSON.stringify(err.params)}` : "";
      problems.push(`schema: ${at} ${err.message}${extra}`);
    }
  }
  checkUnknownFields(obj, { kind: "ref", file: path.join(dir, `${kind}.d.ts`) }, "", problems);
  return { problems };
}

// ---------------------------------------------------------------------------
// hwnas's own rules.

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

function podTemplate(obj) {
  if (WORKLOADS.has(obj.kind)) return obj.spec?.template;
  if (obj.kind === "CronJob") return obj.spec?.jobTemplate?.spec?.template;
  return undefined;
}

function matches(selector, labels) {
  return Object.entries(selector || {}).every(([k, v]) => labels?.[k] === v);
}

function projectProblems(objects) {
  const out = []; // [object name, problem]
  const named = (kind) => new Set(objects.filter((o) => o.kind === kind).map((o) => o.metadata?.name));
  const secrets = named("Secret");
  const configMaps = named("ConfigMap");
  const claims = named("PersistentVolumeClaim");
  const pods = objects.map((o) => [o, podTemplate(o)]).filter(([, t]) => t);

  for (const [obj, tmpl] of pods) {
    const labels = tmpl.metadata?.labels || {};
    const sel = obj.spec?.selector?.matchLabels;
    if (obj.kind !== "Job" && (!sel || !matches(sel, labels))) {
      out.push([obj, "spec.selector.matchLabels does not match spec.template.metadata.labels"]);
    }
    const external = new Set(
      (tmpl.metadata?.annotations?.["hwnas.dev/external-secrets"] || "").split(",").map((s) => s.trim()).filter(Boolean));
    const spec = tmpl.spec || {};
    const containers = [...(spec.initContainers || []), ...(spec.containers || [])];
    for (const c of containers) {
      const r = c.resources || {};
      for (const want of ["requests", "limits"]) {
        for (const res of ["cpu", "memory"]) {
          if (!r[want]?.[res]) out.push([obj, `container ${c.name}: resources.${want}.${res} is not set`]);
        }
      }
      const refs = [];
      for (const e of c.env || []) {
        if (e.valueFrom?.secretKeyRef) refs.push(["Secret", e.valueFrom.secretKeyRef]);
        if (e.valueFrom?.configMapKeyRef) refs.push(["ConfigMap", e.valueFrom.configMapKeyRef]);
      }
      for (const e of c.envFrom || []) {
        if (e.secretRef) refs.push(["Secret", e.secretRef]);
        if (e.configMapRef) refs.push(["ConfigMap", e.configMapRef]);
      }
      for (const [kind, ref] of refs) {
        const have = kind === "Secret" ? secrets : configMaps;
        if (!have.has(ref.name) && !external.has(ref.name)) {
          out.push([obj, `container ${c.name}: references ${kind} ${ref.name}, which is neither rendered nor listed in hwnas.dev/external-secrets`]);
        }
      }
    }
    for (const v of spec.volumes || []) {
      if (v.secret && !secrets.has(v.secret.secretName) && !external.has(v.secret.secretName)) {
        out.push([obj, `volume ${v.name}: Secret ${v.secret.secretName} is neither rendered nor listed in hwnas.dev/external-secrets`]);
      }
      if (v.persistentVolumeClaim && !claims.has(v.persistentVolumeClaim.claimName)) {
        out.push([obj, `volume ${v.name}: PersistentVolumeClaim ${v.persistentVolumeClaim.claimName} is not rendered`]);
      }
      if (v.configMap && !configMaps.has(v.configMap.name)) {
        out.push([obj, `volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`]);
      }
    }
  }

  for (const svc of objects.filter((o) => o.kind === "Service")) {
    const sel = svc.spec?.selector;
    if (!sel) continue;
    const targets = pods.filter(([, t]) => matches(sel, t.metadata?.labels));
    if (targets.length === 0) {
      out.push([svc, `spec.selector ${JSON.stringify(sel)} selects no pod template`]);
      continue;
    }
    for (const p of svc.spec.ports || []) {
      if (typeof p.targetPort !== "string") continue;
      const exposed = targets.some(([, t]) =>
        (t.spec?.containers || []).some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort)));
      if (!exposed) out.push([svc, `port ${p.name}: targetPort ${p.targetPort} is not a named port of the selected pods`]);
    }
  }

  // Autoscalers, disruption budgets and network policies must point at something.
  for (const o of objects.filter((x) => x.kind === "HorizontalPodAutoscaler")) {
    const ref = o.spec?.scaleTargetRef || {};
    if (!objects.some((x) => x.kind === ref.kind && x.metadata?.name === ref.name)) {
      out.push([o, `scaleTargetRef ${ref.kind}/${ref.name} is not rendered`]);
    }
  }
  for (const o of objects.filter((x) => x.kind === "PodDisruptionBudget" || x.kind === "NetworkPolicy")) {
    const sel = (o.kind === "PodDisruptionBudget" ? o.spec?.selector : o.spec?.podSelector)?.matchLabels;
    if (sel && Object.keys(sel).length && !pods.some(([, t]) => matches(sel, t.metadata?.labels))) {
      out.push([o, `selector ${JSON.stringify(sel)} selects no pod template`]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------

function label(obj) {
  return `${obj?.kind ?? "?"}/${obj?.metadata?.name ?? "?"}`;
}

// Parses YAML files into objects; YAML errors become problems.
function load(files, problems) {
  const objects = [];
  for (const file of files) {
    const text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
    for (const doc of YAML.parseAllDocuments(text)) {
      if (doc.errors.length) {
        for (const e of doc.errors) problems.push(`${file}: YAML: ${e.message}`);
        continue;
      }
      const obj = doc.toJS();
      if (obj !== null) objects.push(obj);
    }
  }
  return objects;
}

// Every problem of one set of files, one line each.
function problemsOf(files) {
  const problems = [];
  const objects = load(files, problems);
  for (const obj of objects) {
    for (const p of schemaProblems(obj).problems) problems.push(`${label(obj)}: ${p}`);
  }
  for (const [obj, p] of projectProblems(objects)) problems.push(`${label(obj)}: ${p}`);
  if (objects.length === 0) problems.push("no objects found");
  return { objects, problems };
}

// --broken FILE...: each file must be rejected, with a problem that contains
// the text of its `# expect: TEXT` line (so that it fails for its reason).
function checkBroken(files) {
  let failures = 0;
  for (const file of files) {
    const expect = (fs.readFileSync(file, "utf8").match(/^# expect: (.+)$/m) || [])[1];
    const { problems } = problemsOf([file]);
    const name = path.basename(file);
    const hit = expect && problems.find((p) => p.includes(expect));
    if (!expect) {
      console.log(`FAIL: ${name} has no '# expect:' line`);
    } else if (problems.length === 0) {
      console.log(`FAIL: broken fixture ${name} was accepted`);
    } else if (!hit) {
      console.log(`FAIL: broken fixture ${name} failed for another reason: ${problems.join("; ")}`);
    } else {
      console.log(`ok: ${name} rejected: ${hit}`);
      continue;
    }
    failures++;
  }
  console.log(`${files.length - failures} broken fixture(s) rejected as expected, ${failures} not`);
  return failures === 0 ? 0 : 1;
}

function main(args) {
  if (args[0] === "--broken") return checkBroken(args.slice(1));
  if (args.length === 0) {
    console.error("usage: validate.mjs FILE.yaml... (- for standard input)\n" +
                  "       validate.mjs --broken FIXTURE.yaml...");
    return 2;
  }
  const { objects, problems } = problemsOf(args);
  for (const p of problems) console.log(p);
  console.log(`${objects.length} object(s), ${problems.length} problem(s)`);
  return problems.length === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
