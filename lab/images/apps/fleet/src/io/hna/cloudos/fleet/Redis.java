package io.hna.cloudos.fleet;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A minimal Redis client (RESP2 over one socket): enough for PING, INCR and GET. No Java client
 * for Redis is packaged in Debian, and the service needs only these three commands.
 */
final class Redis implements Closeable {

    static final int TIMEOUT_MS = 2000;

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;

    Redis(String host, int port) throws IOException {
        socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(host, port), TIMEOUT_MS);
            socket.setSoTimeout(TIMEOUT_MS);
            socket.setTcpNoDelay(true);
            in = new BufferedInputStream(socket.getInputStream());
            out = socket.getOutputStream();
        } catch (IOException e) {
            socket.close();
            throw e;
        }
    }

    /** Send one command; return its reply: a String, a Long or null (a nil reply). */
    Object call(String... args) throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        buf.writeBytes(("*" + args.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
        for (String arg : args) {
            byte[] bytes = arg.getBytes(StandardCharsets.UTF_8);
            buf.writeBytes(("$" + bytes.length + "\r\n").getBytes(StandardCharsets.US_ASCII));
            buf.writeBytes(bytes);
            buf.writeBytes(new byte[] {'\r', '\n'});
        }
        out.write(buf.toByteArray());
        out.flush();
        return reply();
    }

    long incr(String key) throws IOException {
        Object r = call("INCR", key);
        if (r instanceof Long n) {
            return n;
        }
        throw new IOException("unexpected reply to INCR: " + r);
    }

    /** The value of a counter key; 0 when it does not exist. */
    long getLong(String key) throws IOException {
        Object r = call("GET", key);
        if (r == null) {
            return 0;
        }
        try {
            return Long.parseLong(r.toString());
        } catch (NumberFormatException e) {
            throw new IOException("key " + key + " does not hold a number");
        }
    }

    void ping() throws IOException {
        Object r = call("PING");
        if (!"PONG".equals(r)) {
            throw new IOException("unexpected reply to PING: " + r);
        }
    }

    private Object reply() throws IOException {
        int type = in.read();
        if (type < 0) {
            throw new EOFException("Redis closed the connection");
        }
        String line = line();
        switch (type) {
            case '+':
                return line;
            case '-':
                throw new IOException("Redis error: " + line);
            case ':':
                return Long.parseLong(line);
            case '$': {
                int len = Integer.parseInt(line);
                if (len < 0) {
                    return null;
                }
                byte[] data = in.readNBytes(len + 2);
                if (data.length != len + 2) {
                    throw new EOFException("Redis closed the connection in a reply");
                }
                return new String(data, 0, len, StandardCharsets.UTF_8);
            }
            default:
                throw new IOException("unsupported Redis reply type '" + (char) type + "'");
        }
    }

    private String line() throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int prev = -1;
        while (true) {
            int c = in.read();
            if (c < 0) {
                throw new EOFException("Redis closed the connection in a reply");
            }
            if (prev == '\r' && c == '\n') {
                byte[] bytes = buf.toByteArray();
                return new String(bytes, 0, bytes.length - 1, StandardCharsets.UTF_8);
            }
            buf.write(c);
            prev = c;
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
