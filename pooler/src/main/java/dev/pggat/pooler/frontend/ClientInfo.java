package dev.pggat.pooler.frontend;

import io.netty.channel.Channel;

/**
 * What the admin console shows of a logged-in client (SHOW CLIENTS) and how it can end it (KILL_CLIENT). Made once
 * per client at the end of its login; nothing here changes on the data path.
 *
 * @param id small number unique within this pooler's run
 * @param handler the client's session (its pool callback and server listener), by which the console finds whether
 *     it runs on a server or waits for one
 * @param connectMillis wall-clock time of the login
 * @param tls the negotiated TLS protocol version, or null in plain text
 * @param kill ends the client with a FATAL error
 */
public record ClientInfo(
        int id,
        String user,
        String database,
        Channel channel,
        Object handler,
        long connectMillis,
        String applicationName,
        String tls,
        Runnable kill) {}
