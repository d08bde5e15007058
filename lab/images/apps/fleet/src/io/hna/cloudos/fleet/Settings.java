package io.hna.cloudos.fleet;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Database and Redis settings from the environment. The database password is read at each
 * connection (from DB_PASSWORD_FILE if set, else DB_PASSWORD) and never shown.
 */
final class Settings {

    final String dbHost;
    final int dbPort;
    final String dbName;
    final String dbUser;
    final String dbPasswordFile;
    private final String dbPassword;
    final String redisHost;
    final int redisPort;
    /** What is wrong with DB_PORT or REDIS_PORT (not a port number), or null. */
    private final String dbPortProblem;
    private final String redisPortProblem;

    private Settings(Map<String, String> env) {
        dbHost = value(env, "DB_HOST", "");
        dbPortProblem = portProblem(env, "DB_PORT");
        dbPort = dbPortProblem == null ? port(env, "DB_PORT", 3306) : 3306;
        dbName = value(env, "DB_NAME", "fleet");
        dbUser = value(env, "DB_USER", "");
        dbPasswordFile = value(env, "DB_PASSWORD_FILE", "");
        dbPassword = env.getOrDefault("DB_PASSWORD", "");
        redisHost = value(env, "REDIS_HOST", "");
        redisPortProblem = portProblem(env, "REDIS_PORT");
        redisPort = redisPortProblem == null ? port(env, "REDIS_PORT", 6379) : 6379;
    }

    static Settings fromEnvironment() {
        return new Settings(System.getenv());
    }

    /** Why the database cannot be used with these settings, or null. */
    String databaseProblem() {
        if (dbPortProblem != null) {
            return dbPortProblem;
        }
        if (dbHost.isEmpty()) {
            return "DB_HOST is not set: give the container the database server's address";
        }
        if (dbUser.isEmpty()) {
            return "DB_USER is not set: give the container the database user";
        }
        if (!dbName.matches("[A-Za-z0-9_$]{1,64}")) {
            return "DB_NAME '" + dbName + "' is not a plain database name (letters, digits, _ and $)";
        }
        return null;
    }

    /** Why Redis cannot be used with these settings, or null. */
    String redisProblem() {
        if (redisPortProblem != null) {
            return redisPortProblem;
        }
        if (redisHost.isEmpty()) {
            return "REDIS_HOST is not set: give the container the Redis server's address";
        }
        return null;
    }

    /** The database password; the error names the file, never its content. */
    String dbPassword() throws IOException {
        if (dbPasswordFile.isEmpty()) {
            return dbPassword;
        }
        try {
            String text = Files.readString(Path.of(dbPasswordFile), StandardCharsets.UTF_8);
            return text.endsWith("\n") ? text.substring(0, text.length() - 1) : text;
        } catch (IOException e) {
            throw new IOException("cannot read DB_PASSWORD_FILE " + dbPasswordFile
                    + " (" + e.getClass().getSimpleName() + "): mount the secret file there or fix the path");
        }
    }

    private static String value(Map<String, String> env, String name, String fallback) {
        String v = env.get(name);
        return v == null || v.isBlank() ? fallback : v.trim();
    }

    private static int port(Map<String, String> env, String name, int fallback) {
        String v = value(env, name, "");
        return v.isEmpty() ? fallback : Integer.parseInt(v);
    }

    private static String portProblem(Map<String, String> env, String name) {
        String v = value(env, name, "");
        if (v.isEmpty() || v.matches("[0-9]{1,5}") && Integer.parseInt(v) >= 1 && Integer.parseInt(v) <= 65535) {
            return null;
        }
        return name + " '" + v + "' is not a port number (1-65535)";
    }
}
