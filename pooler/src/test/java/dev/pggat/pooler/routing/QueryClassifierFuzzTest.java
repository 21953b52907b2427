package dev.pggat.pooler.routing;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.pggat.pooler.sql.SqlTokens;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The routing classifier on any text a client can put in a Query or Parse: through its public API only, so that
 * the lexer under it can change without this test. Seeds are the statements of real psql (including the catalog
 * queries of its \d commands), pgbench and pgjdbc sessions, and hand-written SQL with every kind of quoting.
 *
 * <p>Checked on every input, in all four session settings: a hint comes back (never an exception: a Query the
 * classifier cannot read must still be routed), the same text gets the same hint, and so do its UTF-8 bytes read
 * through a session's once-lexed view ({@link SqlTokens}).
 */
class QueryClassifierFuzzTest {
    private static final QueryClassifier CLASSIFIER = new QueryClassifier(List.of("audit_*", "my_writer"));

    @FuzzTest(maxDuration = "30s")
    void queryText(byte[] input) {
        String sql = new String(input, StandardCharsets.UTF_8);
        for (boolean readOnly : new boolean[] {false, true}) {
            for (boolean standardStrings : new boolean[] {true, false}) {
                RouteHint hint = CLASSIFIER.classify(sql, readOnly, standardStrings);
                assertThat(hint).isNotNull();
                assertThat(CLASSIFIER.classify(sql, readOnly, standardStrings)).isSameAs(hint);
                // The message's bytes, lexed once by the session and replayed: the same hint.
                ByteBuf bytes = Unpooled.wrappedBuffer(sql.getBytes(StandardCharsets.UTF_8));
                SqlTokens tokens = new SqlTokens().of(bytes, 0, bytes.writerIndex(), standardStrings);
                assertThat(CLASSIFIER.classify(tokens, readOnly)).isEqualTo(hint);
            }
        }
    }
}
