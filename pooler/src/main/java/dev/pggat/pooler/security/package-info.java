/**
 * Authentication and TLS at run time, built once from the configuration: {@link
 * dev.pggat.pooler.security.Security} bundles the client-side TLS context, the rules, the failed-login limiter, the
 * credential sources and what pass-through clients proved, and is the server connector's {@code
 * backend.ServerSecurity}; {@link dev.pggat.pooler.security.AuthQuery} looks secrets up on a server. It sits above
 * {@code backend} (it logs in to servers) and uses the I/O-free crypto of {@code auth}; {@code frontend} uses it.
 */
package dev.pggat.pooler.security;
