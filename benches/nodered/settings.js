// Node-RED settings for benches/nodered.sh: no editor or admin API (a deployed flow, and the lighter
// configuration for Node-RED), warnings only in the log.
module.exports = {
    uiPort: Number(process.env.NODE_RED_PORT || 1880),
    uiHost: "127.0.0.1",
    httpAdminRoot: false,
    httpNodeRoot: false,
    flowFile: "flows.json",
    credentialSecret: false,
    logging: { console: { level: "warn", metrics: false, audit: false } },
    contextStorage: { default: { module: "memory" } },
};
