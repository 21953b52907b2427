package dev.pggat.pooler.tracing;

import dev.pggat.pooler.protocol.ErrorFields;
import dev.pggat.pooler.protocol.Parse;
import dev.pggat.pooler.protocol.ProtocolConstants;
import dev.pggat.pooler.protocol.Query;
import dev.pggat.pooler.sql.SqlLexer;
import dev.pggat.pooler.sql.Utf8Text;
import io.netty.buffer.ByteBuf;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import java.util.Locale;

/**
 * Spans of one client session, following OpenTelemetry's database semantic conventions.
 *
 * <p>A transaction is a span of kind SERVER: for the application's driver (whose own span, of kind CLIENT, is the
 * parent when it passes its trace context) the pooler is the server it talks to. Each round trip to PostgreSQL
 * (from the first message written to the ReadyForQuery that answers the batch) is a span of kind CLIENT under it,
 * carrying the database client attributes ({@code db.*}, {@code server.address}, {@code server.port}), so that a
 * trace shows application -> pggat -> PostgreSQL and tools that draw service maps see the same. The wait for a
 * server and a replay after 25006 are INTERNAL spans of the transaction.
 *
 * <p>A transaction span the sampler drops is not recording: then no child span is made at all.
 */
final class OtelSessionTracer implements SessionTracer {
    static final AttributeKey<String> DB_SYSTEM_NAME = AttributeKey.stringKey("db.system.name");
    static final AttributeKey<String> DB_NAMESPACE = AttributeKey.stringKey("db.namespace");
    static final AttributeKey<String> DB_OPERATION_NAME = AttributeKey.stringKey("db.operation.name");
    static final AttributeKey<String> DB_QUERY_TEXT = AttributeKey.stringKey("db.query.text");
    static final AttributeKey<String> DB_RESPONSE_STATUS_CODE = AttributeKey.stringKey("db.response.status_code");
    static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
    static final AttributeKey<String> SERVER_ADDRESS = AttributeKey.stringKey("server.address");
    static final AttributeKey<Long> SERVER_PORT = AttributeKey.longKey("server.port");
    static final AttributeKey<String> POOL = AttributeKey.stringKey("pggat.pool");
    static final AttributeKey<String> ENDPOINT = AttributeKey.stringKey("pggat.endpoint");
    static final AttributeKey<String> ROLE = AttributeKey.stringKey("pggat.role");
    static final AttributeKey<String> USER = AttributeKey.stringKey("pggat.user");
    static final AttributeKey<Boolean> PINNED = AttributeKey.booleanKey("pggat.pinned");
    static final AttributeKey<String> PIN_REASON = AttributeKey.stringKey("pggat.pin_reason");
    static final AttributeKey<Boolean> REPLAYED = AttributeKey.booleanKey("pggat.replayed");

    static final String POSTGRESQL = "postgresql";
    /** Longest SQL text put on a span when includeSqlText is on. */
    static final int MAX_SQL_TEXT = 4096;
    /** A first keyword longer than this is no SQL keyword: the operation stays unnamed. */
    private static final int MAX_OPERATION = 24;

    private final Tracer tracer;
    private final boolean includeSqlText;
    private final String database;
    private final String user;
    /** From application_name: the parent of every transaction that brings no trace context of its own. */
    private final SpanContext sessionParent;

    private String pinReason;

    private Span transaction;
    private Context transactionContext;
    private Span waiting;
    private Span roundTrip;
    private boolean roundTripNamed;
    private Span replay;
    private String transactionOperation;

    private String pool;
    private String endpoint;
    private String role;
    private String host;
    private long port;

    OtelSessionTracer(Tracer tracer, boolean includeSqlText, String database, String user, SpanContext sessionParent) {
        this.tracer = tracer;
        this.includeSqlText = includeSqlText;
        this.database = database;
        this.user = user;
        this.sessionParent = sessionParent;
    }

    @Override
    public void transactionStarted(ByteBuf first) {
        begin(first);
        if (transaction.isRecording() && waiting == null) {
            waiting = tracer.spanBuilder("pool checkout")
                    .setParent(transactionContext)
                    .setSpanKind(SpanKind.INTERNAL)
                    .setAttribute(DB_SYSTEM_NAME, POSTGRESQL)
                    .setAttribute(DB_NAMESPACE, database)
                    .startSpan();
        }
    }

    /** Opens the transaction span unless one is open, continuing the application's trace when it sent one. */
    private void begin(ByteBuf first) {
        if (transaction != null) {
            return;
        }
        SpanContext parent = first == null ? null : fromStatement(first);
        if (parent == null) {
            parent = sessionParent;
        }
        SpanBuilder b = tracer.spanBuilder("transaction " + database)
                .setSpanKind(SpanKind.SERVER)
                .setAttribute(DB_SYSTEM_NAME, POSTGRESQL)
                .setAttribute(DB_NAMESPACE, database)
                .setAttribute(USER, user);
        // An application's context is the parent; without one the transaction is a trace of its own.
        b.setParent(parent == null ? Context.root() : Context.root().with(Span.wrap(parent)));
        if (pinReason != null) {
            b.setAttribute(PINNED, true).setAttribute(PIN_REASON, pinReason);
        }
        if (pool != null) {
            attributesOfRoute(b);
        }
        transaction = b.startSpan();
        transactionContext = Context.root().with(transaction);
        transactionOperation = null;
    }

    private static SpanContext fromStatement(ByteBuf frame) {
        byte type = dev.pggat.pooler.protocol.Frames.type(frame);
        if (type == ProtocolConstants.QUERY) {
            return TraceParent.fromSql(frame, Query.textStart(frame), Query.textEndOrMinusOne(frame));
        }
        if (type == ProtocolConstants.PARSE) {
            return TraceParent.fromSql(frame, Parse.queryStart(frame), Parse.queryEndOrMinusOne(frame));
        }
        return null;
    }

    private void attributesOfRoute(SpanBuilder b) {
        b.setAttribute(POOL, pool).setAttribute(ENDPOINT, endpoint).setAttribute(ROLE, role);
    }

    @Override
    public void routed(String endpoint, boolean replica, String host, int port) {
        this.pool = database + "/" + user;
        this.endpoint = endpoint;
        this.role = replica ? "replica" : "primary";
        this.host = host;
        this.port = port;
        if (transaction != null) {
            transaction
                    .setAttribute(POOL, pool)
                    .setAttribute(ENDPOINT, endpoint)
                    .setAttribute(ROLE, role);
        }
        if (waiting != null) {
            waiting.setAttribute(POOL, pool).setAttribute(ENDPOINT, endpoint);
        }
    }

    @Override
    public void waitEnded() {
        if (waiting != null) {
            waiting.end();
            waiting = null;
        }
    }

    @Override
    public void toServer(ByteBuf frame, byte type) {
        if (transaction == null) {
            begin(frame); // session mode (or a pinned client): the server stays, the next transaction starts here
        }
        if (!transaction.isRecording()) {
            return;
        }
        if (roundTrip == null) {
            SpanBuilder b = tracer.spanBuilder(database)
                    .setParent(replay != null ? Context.root().with(replay) : transactionContext)
                    .setSpanKind(SpanKind.CLIENT)
                    .setAttribute(DB_SYSTEM_NAME, POSTGRESQL)
                    .setAttribute(DB_NAMESPACE, database);
            if (host != null) {
                b.setAttribute(SERVER_ADDRESS, host).setAttribute(SERVER_PORT, port);
            }
            roundTrip = b.startSpan();
            roundTripNamed = false;
        }
        if (!roundTripNamed && (type == ProtocolConstants.QUERY || type == ProtocolConstants.PARSE)) {
            roundTripNamed = true;
            boolean query = type == ProtocolConstants.QUERY;
            int start = query ? Query.textStart(frame) : Parse.queryStart(frame);
            int end = query ? Query.textEndOrMinusOne(frame) : Parse.queryEndOrMinusOne(frame);
            if (end < 0) {
                return;
            }
            String op = operation(frame, start, end);
            if (op != null) {
                roundTrip.setAttribute(DB_OPERATION_NAME, op);
                roundTrip.updateName(op + " " + database);
                if (transactionOperation == null) {
                    transactionOperation = op;
                }
            }
            if (includeSqlText) {
                int n = Math.min(end - start, MAX_SQL_TEXT);
                roundTrip.setAttribute(DB_QUERY_TEXT, new Utf8Text(frame, start, end).decode(0, n));
            }
        }
    }

    /** The first keyword, upper case; null when the text starts with no word (or a word no keyword is). */
    static String operation(ByteBuf frame, int start, int end) {
        SqlLexer lexer = new SqlLexer(new Utf8Text(frame, start, end));
        if (lexer.next() != SqlLexer.WORD || lexer.end() - lexer.start() > MAX_OPERATION) {
            return null;
        }
        String word = lexer.text(lexer.start(), lexer.end());
        for (int i = 0; i < word.length(); i++) {
            char c = word.charAt(i);
            if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_')) {
                return null;
            }
        }
        return word.toUpperCase(Locale.ROOT);
    }

    @Override
    public void fromServer(ByteBuf frame, byte type) {
        if (type != ProtocolConstants.ERROR_RESPONSE || roundTrip == null) {
            return;
        }
        String state = ErrorFields.parse(frame).sqlState();
        if (state != null && state.length() == 5) {
            roundTrip.setAttribute(DB_RESPONSE_STATUS_CODE, state).setAttribute(ERROR_TYPE, state);
            roundTrip.setStatus(StatusCode.ERROR);
        }
    }

    @Override
    public void ready(byte status, boolean batchDone) {
        if (!batchDone) {
            return;
        }
        if (roundTrip != null) {
            roundTrip.end();
            roundTrip = null;
            if (replay != null) {
                replay.end();
                replay = null;
            }
        }
        if (status == ProtocolConstants.TX_IDLE && transaction != null) {
            if (transactionOperation != null) {
                transaction.setAttribute(DB_OPERATION_NAME, transactionOperation);
            }
            if (pinReason != null) {
                transaction.setAttribute(PINNED, true).setAttribute(PIN_REASON, pinReason);
            }
            transaction.end();
            transaction = null;
            transactionContext = null;
        }
    }

    @Override
    public void replayed() {
        if (transaction == null || !transaction.isRecording()) {
            return;
        }
        if (roundTrip != null) {
            // The replica's round trip ends with the 25006: its replies were dropped.
            roundTrip.setAttribute(DB_RESPONSE_STATUS_CODE, "25006").setAttribute(ERROR_TYPE, "25006");
            roundTrip.setStatus(StatusCode.ERROR);
            roundTrip.end();
            roundTrip = null;
        }
        transaction.setAttribute(REPLAYED, true);
        replay = tracer.spanBuilder("replay on primary")
                .setParent(transactionContext)
                .setSpanKind(SpanKind.INTERNAL)
                .setAttribute(DB_SYSTEM_NAME, POSTGRESQL)
                .setAttribute(DB_NAMESPACE, database)
                .setAttribute(DB_RESPONSE_STATUS_CODE, "25006")
                .startSpan();
        transactionStarted(null);
    }

    @Override
    public void pinned(String reason) {
        if (reason != null && pinReason == null) {
            pinReason = reason;
            if (transaction != null) {
                transaction.setAttribute(PINNED, true).setAttribute(PIN_REASON, reason);
            }
        }
    }

    @Override
    public void closed() {
        for (Span s : new Span[] {waiting, roundTrip, replay, transaction}) {
            if (s != null) {
                s.setStatus(StatusCode.ERROR, "client disconnected");
                s.end();
            }
        }
        waiting = null;
        roundTrip = null;
        replay = null;
        transaction = null;
        transactionContext = null;
    }
}
