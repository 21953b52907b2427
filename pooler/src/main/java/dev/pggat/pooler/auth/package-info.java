/**
 * Password crypto for both sides of the pooler, with no I/O: parsing configured secrets ({@link
 * dev.pggat.pooler.auth.Secret}), checking a client's cleartext or MD5 answer, the server side of SCRAM-SHA-256
 * towards clients ({@link dev.pggat.pooler.auth.ScramServer}) and the client side towards PostgreSQL ({@link
 * dev.pggat.pooler.auth.ScramClient}). The wire state machines that carry these messages live elsewhere.
 */
package dev.pggat.pooler.auth;
