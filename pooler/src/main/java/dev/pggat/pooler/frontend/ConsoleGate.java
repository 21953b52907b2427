package dev.pggat.pooler.frontend;

import io.netty.channel.ChannelHandlerContext;

/**
 * The way into the admin console: clients that name its virtual database ({@code pgbouncer}, {@code pggat}) log in
 * as anyone does, and a user with console access is then served by the console instead of a pool. Implemented
 * outside the client path (package {@code console}); the login only asks these questions.
 */
public interface ConsoleGate {
    /** What a user may do on the console. */
    enum Access {
        NONE,
        /** SHOW commands only (admin.statsUsers). */
        STATS,
        /** Everything (admin.users). */
        ADMIN
    }

    /** Whether {@code database} names the console (and no configured database of that name exists). */
    boolean isConsoleDatabase(String database);

    Access access(String user);

    /**
     * Takes over a client that has logged in to the console: called on its event loop once AuthenticationOk is
     * written, in place of the login handler {@code ctx} belongs to.
     */
    void open(ChannelHandlerContext ctx, ClientInfo client, Access access);
}
