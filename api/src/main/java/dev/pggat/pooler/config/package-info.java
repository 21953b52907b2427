/**
 * The pooler's YAML configuration: {@link dev.pggat.pooler.config.ConfigLoader} reads a file, substitutes
 * environment variables, applies defaults and validates everything before anything listens on a port. The records
 * are plain immutable values and do not validate themselves, so tests and the demo can build them directly (for
 * example with an ephemeral port 0).
 */
package dev.pggat.pooler.config;
