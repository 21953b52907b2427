package dev.pggat.pooler.tracing;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.opentelemetry.api.trace.SpanContext;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class TraceParentTest {
    private static final String TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
    private static final String PARENT = "00f067aa0ba902b7";
    private static final String VALID = "00-" + TRACE + "-" + PARENT + "-01";

    private static SpanContext sql(String text) {
        ByteBuf b = Unpooled.copiedBuffer(text, StandardCharsets.UTF_8);
        try {
            return TraceParent.fromSql(b, 0, b.writerIndex());
        } finally {
            b.release();
        }
    }

    @Test
    void leadingSqlcommenterCommentGivesTheApplicationsContext() {
        SpanContext c = sql("/*traceparent='" + VALID + "'*/ SELECT 1");
        assertThat(c).isNotNull();
        assertThat(c.getTraceId()).isEqualTo(TRACE);
        assertThat(c.getSpanId()).isEqualTo(PARENT);
        assertThat(c.isSampled()).isTrue();
        assertThat(c.isRemote()).isTrue();
    }

    @Test
    void trailingCommentWithOtherKeysAndTracestateIsReadToo() {
        SpanContext c = sql(
                "SELECT * FROM t /*controller='index',traceparent='" + VALID + "',tracestate='congo%3Dt61rcWkgMzE'*/;");
        assertThat(c).isNotNull();
        assertThat(c.getTraceId()).isEqualTo(TRACE);
        assertThat(c.getTraceState().get("congo")).isEqualTo("t61rcWkgMzE");
    }

    @Test
    void unsampledFlagIsKept() {
        SpanContext c = sql("/*traceparent='00-" + TRACE + "-" + PARENT + "-00'*/ SELECT 1");
        assertThat(c).isNotNull();
        assertThat(c.isSampled()).isFalse();
    }

    @Test
    void malformedValuesAreIgnored() {
        assertThat(sql("SELECT 1")).isNull();
        assertThat(sql("/* just a comment */ SELECT 1")).isNull();
        // Upper-case hex, wrong lengths, all-zero ids, version ff, no quotes, an unterminated comment.
        assertThat(sql("/*traceparent='00-" + TRACE.toUpperCase() + "-" + PARENT + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='00-" + TRACE + "0-" + PARENT + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='00-" + TRACE.substring(1) + "-" + PARENT + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='00-" + "0".repeat(32) + "-" + PARENT + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='00-" + TRACE + "-" + "0".repeat(16) + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='ff-" + TRACE + "-" + PARENT + "-01'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='00-" + TRACE + "-" + PARENT + "-0g'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent=" + VALID + "*/ SELECT 1")).isNull();
        assertThat(sql("/*traceparent='" + VALID + "' SELECT 1")).isNull();
        assertThat(sql("/*tracestate='a=b'*/ SELECT 1")).isNull();
    }

    @Test
    void aCommentBeyondTheScannedLengthIsNotLookedFor() {
        String padding = " ".repeat(TraceParent.MAX_COMMENT);
        assertThat(sql("/*" + padding + "traceparent='" + VALID + "'*/ SELECT 1"))
                .isNull();
        assertThat(sql("/*traceparent='" + VALID + "'*/" + " SELECT 1".repeat(1000)))
                .isNotNull();
    }

    @Test
    void applicationNameCarriesATraceparentAloneOrAsAKey() {
        assertThat(TraceParent.fromApplicationName(VALID).getTraceId()).isEqualTo(TRACE);
        assertThat(TraceParent.fromApplicationName("billing traceparent='" + VALID + "'")
                        .getSpanId())
                .isEqualTo(PARENT);
        assertThat(TraceParent.fromApplicationName("billing traceparent=" + VALID)
                        .getSpanId())
                .isEqualTo(PARENT);
        assertThat(TraceParent.fromApplicationName("billing")).isNull();
        assertThat(TraceParent.fromApplicationName(null)).isNull();
        assertThat(TraceParent.fromApplicationName(VALID.replace('a', 'x'))).isNull();
        assertThat(TraceParent.fromApplicationName("x".repeat(300) + VALID)).isNull();
    }
}
