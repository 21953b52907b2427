package dev.pggat.pooler.frontend;

import dev.pggat.pooler.backend.ServerConnection;
import dev.pggat.pooler.listen.ListenStage;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.routing.Router;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.EventLoop;
import java.util.ArrayDeque;

/** What the LISTEN stage sees of its client session, and may do to it. */
final class ListenSide implements ListenStage.Session {
    private final ClientSession session;

    @Override
    public dev.pggat.pooler.sql.SqlTokens sql() {
        return session.sql;
    }

    ListenSide(ClientSession session) {
        this.session = session;
    }

    @Override
    public ChannelHandlerContext client() {
        return session.ctx;
    }

    @Override
    public EventLoop loop() {
        return session.loop;
    }

    @Override
    public Router.User user() {
        return session.user;
    }

    @Override
    public ArrayDeque<ByteBuf> pending() {
        return session.pending();
    }

    @Override
    public boolean closed() {
        return session.state == ClientSession.State.CLOSED;
    }

    @Override
    public boolean idle() {
        return session.state == ClientSession.State.IDLE;
    }

    @Override
    public boolean attached() {
        return session.state == ClientSession.State.ATTACHED;
    }

    @Override
    public void checkOut() {
        session.checkout.checkOut();
    }

    @Override
    public void reread(ByteBuf frame) {
        session.channelRead(session.ctx, frame);
    }

    @Override
    public ServerConnection server() {
        return session.server;
    }

    @Override
    public int awaitingReady() {
        return session.awaitingReady;
    }

    @Override
    public boolean extendedOpen() {
        return session.extendedOpen;
    }

    @Override
    public void extendedOpened() {
        session.extendedOpen = true;
    }

    @Override
    public void expectReply(Object reply) {
        session.prepared.tracker.add(ResponseTracker.SYNTHETIC_REPLY, reply, session.prepared);
    }

    @Override
    public void expectAddedParse() {
        session.prepared.tracker.add(ResponseTracker.ADDED_PARSE, null, session.prepared);
    }

    @Override
    public void keepForReplay(ByteBuf frame) {
        session.routing.keep(frame);
    }

    @Override
    public void noteParse(ByteBuf parse) {
        session.noteSessionEffects(parse, ProtocolConstants.PARSE, false);
    }

    @Override
    public void toClient(ByteBuf frame) {
        session.toClient(frame);
    }

    @Override
    public void finishReady(ServerConnection s, ByteBuf frame, byte status) {
        session.finishReady(s, frame, status);
    }

    @Override
    public void serverFrame(ServerConnection s, ByteBuf frame) {
        session.serverFrameThenSynthetic(s, frame);
    }

    @Override
    public void afterServerFrame() {
        session.prepared.afterServerFrame();
    }
}
