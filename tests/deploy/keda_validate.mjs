// Validates KEDA ScaledObjects with the model of npm's @kubernetes-models/keda (its validator is compiled from
// KEDA's CRD OpenAPI schema). Usage: node keda_validate.mjs <path to .../keda.sh/v1alpha1/ScaledObject.js>
// with a JSON list of objects on stdin; prints a JSON list with "ok" or the validation message per object.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const { ScaledObject } = await import(pathToFileURL(process.argv[2]).href);
const objects = JSON.parse(readFileSync(0, "utf8"));
const results = objects.map((obj) => {
  try {
    new ScaledObject(obj).validate();
    return "ok";
  } catch (err) {
    return String(err.message);
  }
});
process.stdout.write(JSON.stringify(results));
