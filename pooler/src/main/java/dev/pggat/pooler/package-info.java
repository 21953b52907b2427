/**
 * pggat pooler. Packages follow the path a client connection walks: {@code protocol} (wire format only) ->
 * {@code frontend} (client side: startup, auth) -> {@code routing} (which pool) -> {@code pool} (server
 * connections, checkout and release) -> {@code backend} (server side: connect, auth, reset).
 */
package dev.pggat.pooler;
