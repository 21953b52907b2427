/**
 * Password crypto for both sides of the pooler, with no I/O: parsing configured secrets ({@link
 * dev.pggat.pooler.auth.Secret}), checking a client's cleartext or MD5 answer, the server side of SCRAM-SHA-256
 * towards clients ({@link dev.pggat.pooler.auth.ScramServer}) and the client side towards PostgreSQL ({@link
 * dev.pggat.pooler.auth.ScramClient}), including SCRAM-SHA-256-PLUS and the ClientKey recovered for pass-through.
 * Around them: the ordered client rules ({@link dev.pggat.pooler.auth.AuthRules}), the failed-login limiter, the
 * credential files, what pass-through clients proved. It does no I/O towards servers and imports nothing of the data
 * path, so both sides use it: {@code security.Security} bundles it with the TLS contexts and the auth query at run
 * time. The wire state machines that carry these messages are {@code frontend.LoginHandler} and {@code
 * backend.BackendHandler}.
 */
package dev.pggat.pooler.auth;
