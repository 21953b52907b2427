package dev.pggat.pooler.sql;

import io.netty.buffer.ByteBuf;

/**
 * The SQL text of one client message, lexed once and read by every stage that looks at it: the LISTEN stage's
 * check of the first words, the session-effect analysis (SET, RESET, pins) and the classifier where reads split.
 * Each reads it through {@link #lexer()}, a {@link SqlLexer} that replays the recorded tokens with the same
 * answers as lexing the text again, so a Query is lexed once instead of up to three times.
 *
 * <p>One per client session, reused from message to message: after warm-up a message costs no allocation here. A
 * view is valid while its message's buffer is; the session {@link #forget() forgets} it whenever a new message
 * arrives, so a recycled buffer can never be mistaken for the message it held before. A text longer than {@link
 * #MAX_RECORDED} characters is not recorded (its tokens could take twelve times its size): {@link #lexer()} then
 * lexes it afresh each time, as before.
 */
public final class SqlTokens {
    /** Longest text whose tokens are recorded; longer ones are rare and lexed per reader. */
    static final int MAX_RECORDED = 16 * 1024;
    /** Ints per token: type, kind, unterminated and punctuation packed; start; end. */
    private static final int STRIDE = 3;
    /** Recorded-token space kept between messages; a longer message's array is dropped when it is forgotten. */
    private static final int KEEP_INTS = 64 * STRIDE;

    private final Utf8Text text = new Utf8Text();
    private final SqlLexer recorder = new SqlLexer(text, true);
    private final SqlLexer replay = new SqlLexer(this);
    private int[] tokens = new int[16 * STRIDE];
    private int count;
    private boolean recordedAll;
    private boolean endUnterminated;
    private boolean primaryHint;
    private boolean replicaHint;
    private boolean standardConformingStrings = true;

    /** The message whose text this is (by identity) and where in it; null: none. */
    private ByteBuf frame;

    private int from;
    private int to;

    /** Forgets the last message's text: called for every message the client sends. */
    public void forget() {
        frame = null;
        if (tokens.length > KEEP_INTS) {
            tokens = new int[16 * STRIDE];
        }
    }

    /**
     * The text of bytes [start, end) of {@code message}, lexed now unless it was already, for this same message,
     * with the same {@code standard_conforming_strings}.
     */
    public SqlTokens of(ByteBuf message, int start, int end, boolean conforming) {
        if (message == frame && start == from && end == to && conforming == standardConformingStrings) {
            return this;
        }
        frame = message;
        from = start;
        to = end;
        standardConformingStrings = conforming;
        text.over(message, start, end);
        count = 0;
        recordedAll = end - start <= MAX_RECORDED;
        if (recordedAll) {
            record();
        }
        return this;
    }

    private void record() {
        SqlLexer lx = recorder;
        lx.reset(text, standardConformingStrings);
        int t;
        while ((t = lx.next()) != SqlLexer.END) {
            int i = count * STRIDE;
            if (i + STRIDE > tokens.length) {
                tokens = java.util.Arrays.copyOf(tokens, tokens.length * 2);
            }
            tokens[i] = t | (lx.kind() << 4) | (lx.unterminated() ? 1 << 8 : 0) | (lx.punct() << 16);
            tokens[i + 1] = lx.start();
            tokens[i + 2] = lx.end();
            count++;
        }
        endUnterminated = lx.unterminated();
        primaryHint = lx.primaryHint();
        replicaHint = lx.replicaHint();
    }

    /**
     * A lexer at the start of the text. The same replaying lexer each time: one reader at a time, each done with
     * it before the next asks.
     */
    public SqlLexer lexer() {
        if (!recordedAll) {
            return new SqlLexer(text, standardConformingStrings);
        }
        replay.reset(text, standardConformingStrings);
        return replay;
    }

    /** Whether the text was recorded (replaying lexers can be made with {@link SqlLexer#SqlLexer(SqlTokens)}). */
    public boolean recorded() {
        return recordedAll;
    }

    /** The text, as the bytes of the message (valid while the message is). */
    public CharSequence text() {
        return text;
    }

    public boolean standardConformingStrings() {
        return standardConformingStrings;
    }

    boolean primaryHint() {
        return primaryHint;
    }

    boolean replicaHint() {
        return replicaHint;
    }

    /** Loads token {@code index} into {@code lx} (the end past the last one); returns its type. */
    int load(SqlLexer lx, int index) {
        if (index >= count) {
            int n = text.length();
            return lx.token(SqlLexer.END, n, n, lx.punct(), lx.kind(), endUnterminated);
        }
        int i = index * STRIDE;
        int packed = tokens[i];
        return lx.token(
                packed & 0xF,
                tokens[i + 1],
                tokens[i + 2],
                (char) (packed >>> 16),
                (packed >>> 4) & 0xF,
                (packed & (1 << 8)) != 0);
    }
}
