package io.hna.cloudos.fleet;

/**
 * What this build is and where it runs: the version and health mode baked into the image, the
 * container's host name and the settings from the environment. Set once by {@link Startup}.
 */
final class App {

    private static volatile App current;

    final String version;
    /** False for a build made to fail its health check (version 3 of the demo). */
    final boolean healthy;
    /** Percent of the answers of /version that are errors (500) on purpose (version 4 of the demo: 10). */
    final int errorPercent;
    final String host;
    final Settings settings;

    App(String version, boolean healthy, int errorPercent, String host, Settings settings) {
        this.version = version;
        this.healthy = healthy;
        this.errorPercent = errorPercent;
        this.host = host;
        this.settings = settings;
    }

    static App get() {
        return current;
    }

    static void set(App app) {
        current = app;
    }
}
