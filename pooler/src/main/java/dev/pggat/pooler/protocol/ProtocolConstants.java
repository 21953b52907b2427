package dev.pggat.pooler.protocol;

/** Wire constants of the PostgreSQL frontend/backend protocol v3 (names as in the protocol documentation). */
public final class ProtocolConstants {
    private ProtocolConstants() {}

    public static final int PROTOCOL_3_0 = 196608; // 3 << 16
    public static final int SSL_REQUEST_CODE = 80877103;
    public static final int GSSENC_REQUEST_CODE = 80877104;
    public static final int CANCEL_REQUEST_CODE = 80877102;

    /** PostgreSQL's own MAX_STARTUP_PACKET_LENGTH. */
    public static final int DEFAULT_MAX_STARTUP_PACKET = 10_000;

    // Frontend (client -> server) message types.
    public static final byte BIND = 'B';
    public static final byte CLOSE = 'C';
    public static final byte COPY_DATA = 'd';
    public static final byte COPY_DONE = 'c';
    public static final byte COPY_FAIL = 'f';
    public static final byte DESCRIBE = 'D';
    public static final byte EXECUTE = 'E';
    public static final byte FLUSH = 'H';
    public static final byte FUNCTION_CALL = 'F';
    public static final byte PARSE = 'P';
    public static final byte PASSWORD_MESSAGE = 'p'; // also SASLInitialResponse, SASLResponse, GSSResponse
    public static final byte QUERY = 'Q';
    public static final byte SYNC = 'S';
    public static final byte TERMINATE = 'X';

    // Backend (server -> client) message types.
    public static final byte AUTHENTICATION = 'R';
    public static final byte BACKEND_KEY_DATA = 'K';
    public static final byte BIND_COMPLETE = '2';
    public static final byte CLOSE_COMPLETE = '3';
    public static final byte COMMAND_COMPLETE = 'C';
    public static final byte COPY_IN_RESPONSE = 'G';
    public static final byte COPY_OUT_RESPONSE = 'H';
    public static final byte COPY_BOTH_RESPONSE = 'W';
    public static final byte DATA_ROW = 'D';
    public static final byte EMPTY_QUERY_RESPONSE = 'I';
    public static final byte ERROR_RESPONSE = 'E';
    public static final byte NEGOTIATE_PROTOCOL_VERSION = 'v';
    public static final byte NO_DATA = 'n';
    public static final byte NOTICE_RESPONSE = 'N';
    public static final byte NOTIFICATION_RESPONSE = 'A';
    public static final byte PARAMETER_DESCRIPTION = 't';
    public static final byte PARAMETER_STATUS = 'S';
    public static final byte PARSE_COMPLETE = '1';
    public static final byte PORTAL_SUSPENDED = 's';
    public static final byte READY_FOR_QUERY = 'Z';
    public static final byte ROW_DESCRIPTION = 'T';

    // Authentication request codes.
    public static final int AUTH_OK = 0;
    public static final int AUTH_CLEARTEXT_PASSWORD = 3;
    public static final int AUTH_MD5_PASSWORD = 5;
    public static final int AUTH_SASL = 10;
    public static final int AUTH_SASL_CONTINUE = 11;
    public static final int AUTH_SASL_FINAL = 12;

    // ReadyForQuery transaction status.
    public static final byte TX_IDLE = 'I';
    public static final byte TX_IN_BLOCK = 'T';
    public static final byte TX_FAILED = 'E';
}
