// Reads lines of `<hex payload>` from stdin and prints each decoded by Tahu's sparkplug-payload as one
// JSON line; a payload it cannot decode prints {"error": "..."}. 64-bit integers are printed as strings.
const { get } = require("sparkplug-payload");
const sparkplug = get("spBv1.0");
const readline = require("readline");
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  try {
    const p = sparkplug.decodePayload(Buffer.from(line.trim(), "hex"));
    console.log(JSON.stringify(p, (k, v) => (v && v.low !== undefined && v.high !== undefined ? v.toString() : typeof v === "bigint" ? v.toString() : v)));
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  }
});
