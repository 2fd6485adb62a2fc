// Offline checks driven by tests/integration/test_deploy_*.py (node 20, modules from
// package-lock.json):
//   node check.mjs k8s OBJECTS.json OUT_DIR    kubernetes-models .validate() of every object, and
//                                             a TypeScript file per Kubernetes version declaring
//                                             each object as a typed literal (tsc --strict then
//                                             rejects unknown fields and wrong enums)
//   node check.mjs promql EXPRS.json           parse each PromQL expression; print the metric
//                                             names used, as JSON
//   node check.mjs dockerfile FILE             dockerfile-utils validate(): print the problems
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

// apiVersion/kind -> [kubernetes-models module, kubernetes-types module, type name]
function modelsFor(apiVersion, kind) {
  if (apiVersion === "monitoring.coreos.com/v1") {
    return {
      models: `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`,
      types: `@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`,
      typeName: `I${kind}`,
    };
  }
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  return {
    models: group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`,
    types: `${group || "core"}/${version}`,
    typeName: kind,
  };
}

function checkK8s(objectsFile, outDir) {
  const objects = JSON.parse(fs.readFileSync(objectsFile, "utf8"));
  const problems = [];
  for (const [i, entry] of objects.entries()) {
    const { source, object } = entry;
    const where = `${source}: ${object.kind}/${object.metadata?.name}`;
    const m = modelsFor(object.apiVersion, object.kind);
    let Model;
    try {
      const mod = require(m.models);
      Model = mod[object.kind];
    } catch (e) {
      problems.push(`${where}: no model for ${object.apiVersion} ${object.kind}: ${e.message}`);
      continue;
    }
    try {
      new Model(object).validate();
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
    }
  }
  // One TypeScript file per kubernetes-types version: excess property checks on fresh object
  // literals reject unknown fields; string-literal unions reject bad enums where typed.
  for (const [pkg, tag] of [["kubernetes-types", "k8s_1_30"], ["kubernetes-types-1.29", "k8s_1_29"]]) {
    const imports = new Map();
    const decls = [];
    for (const [i, { source, object }] of objects.entries()) {
      const m = modelsFor(object.apiVersion, object.kind);
      const from = m.types.startsWith("@") ? m.types : `${pkg}/${m.types}`;
      const alias = `${m.typeName}_${imports.size}`;
      const key = `${from}#${m.typeName}`;
      if (!imports.has(key)) imports.set(key, { from, name: m.typeName, alias });
      decls.push(`// ${source}: ${object.kind}/${object.metadata?.name}\n` +
                 `export const o${i}: ${imports.get(key).alias} = ${JSON.stringify(object, null, 2)};`);
    }
    const head = [...imports.values()].map((x) => `import type { ${x.name} as ${x.alias} } from "${x.from}";`);
    fs.writeFileSync(path.join(outDir, `${tag}.ts`), head.join("\n") + "\n\n" + decls.join("\n\n") + "\n");
  }
  return problems;
}

async function checkPromql(exprsFile) {
  const { parser } = await import("@prometheus-io/lezer-promql");
  const exprs = JSON.parse(fs.readFileSync(exprsFile, "utf8"));
  const out = [];
  for (const { source, expr } of exprs) {
    const tree = parser.parse(expr);
    const errors = [];
    const metrics = new Set();
    tree.iterate({
      enter(node) {
        if (node.type.isError) errors.push(`parse error at ${node.from}: ${JSON.stringify(expr.slice(node.from, node.from + 20))}`);
        if (node.name === "MetricName" || (node.name === "Identifier" && node.node.parent?.name === "VectorSelector")) {
          metrics.add(expr.slice(node.from, node.to));
        }
        if (node.name === "LabelMatcher") {
          // {__name__="..."} selects by name too
          const text = expr.slice(node.from, node.to);
          const m = /^__name__\s*=\s*"([^"]+)"/.exec(text);
          if (m) metrics.add(m[1]);
        }
      },
    });
    out.push({ source, expr, errors, metrics: [...metrics] });
  }
  return out;
}

function checkDockerfile(file) {
  const { validate } = require("dockerfile-utils");
  const text = fs.readFileSync(file, "utf8");
  return validate(text).map((d) => `${file}:${d.range.start.line + 1}: ${d.message}`);
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "k8s") {
  const problems = checkK8s(args[0], args[1]);
  console.log(JSON.stringify(problems));
} else if (cmd === "promql") {
  console.log(JSON.stringify(await checkPromql(args[0])));
} else if (cmd === "dockerfile") {
  console.log(JSON.stringify(checkDockerfile(args[0])));
} else {
  console.error("usage: node check.mjs k8s|promql|dockerfile ...");
  process.exit(2);
}
