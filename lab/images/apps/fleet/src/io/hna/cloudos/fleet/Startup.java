package io.hna.cloudos.fleet;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;

import jakarta.servlet.ServletContext;
import jakarta.servlet.ServletContextEvent;
import jakarta.servlet.ServletContextListener;

/**
 * Reads WEB-INF/app.properties (version=, health=ok|fail, errors=percent of /version answered
 * 500; written by the image build), the host
 * name and the environment when the application starts.
 */
public final class Startup implements ServletContextListener {

    @Override
    public void contextInitialized(ServletContextEvent event) {
        ServletContext context = event.getServletContext();
        Properties props = new Properties();
        try (InputStream in = context.getResourceAsStream("/WEB-INF/app.properties")) {
            if (in != null) {
                props.load(in);
            }
        } catch (IOException e) {
            context.log("fleet: cannot read WEB-INF/app.properties: " + e.getMessage());
        }
        String version = props.getProperty("version", "unknown").trim();
        boolean healthy = !"fail".equals(props.getProperty("health", "ok").trim());
        int errors = 0;
        try {
            errors = Math.max(0, Math.min(100, Integer.parseInt(props.getProperty("errors", "0").trim())));
        } catch (NumberFormatException e) {
            context.log("fleet: errors=" + props.getProperty("errors") + " in app.properties is not a number; using 0");
        }
        App app = new App(version, healthy, errors, hostName(), Settings.fromEnvironment());
        App.set(app);
        context.log("fleet: version " + version + " on " + app.host
                + (healthy ? "" : " (this build fails its health check on purpose)")
                + (errors > 0 ? " (" + errors + "% of /version answer 500 on purpose)" : ""));
    }

    @Override
    public void contextDestroyed(ServletContextEvent event) {
        // nothing to release: connections are opened and closed per request
    }

    private static String hostName() {
        String name = System.getenv("HOSTNAME");
        if (name != null && !name.isBlank()) {
            return name.trim();
        }
        try {
            return Files.readString(Path.of("/etc/hostname"), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            // fall through to the resolver
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "unknown";
        }
    }
}
