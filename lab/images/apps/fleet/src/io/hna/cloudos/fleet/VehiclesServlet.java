package io.hna.cloudos.fleet;

import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

/**
 * GET /vehicles lists the table `vehicles` in MariaDB; POST /vehicles?id=...&name=... adds a vehicle
 * or renames an existing one (the parameters may also come as a form body). Each row records
 * the version that last wrote it.
 */
public final class VehiclesServlet extends HttpServlet {

    private static final long serialVersionUID = 1L;

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        App app = App.get();
        List<Object> vehicles = new ArrayList<>();
        try (Connection conn = Database.connect(app.settings);
                PreparedStatement st = conn.prepareStatement(
                        "SELECT id, name, written_by_version, updated FROM vehicles ORDER BY id");
                ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                vehicles.add(Json.object("id", rs.getString(1), "name", rs.getString(2),
                        "written_by_version", rs.getString(3), "updated", rs.getString(4)));
            }
        } catch (SQLException | IOException e) {
            unavailable(resp, app, e);
            return;
        }
        Json.send(resp, 200, Json.object("vehicles", vehicles, "count", vehicles.size(), "version", app.version));
    }

    @Override
    protected void doPost(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        App app = App.get();
        String id = req.getParameter("id");
        String name = req.getParameter("name");
        if (id == null || !id.matches("[A-Za-z0-9_.-]{1,64}")) {
            Json.error(resp, 400, "parameter id is required: 1 to 64 letters, digits, '_', '.' or '-'");
            return;
        }
        if (name == null || name.isBlank() || name.length() > 255) {
            Json.error(resp, 400, "parameter name is required: 1 to 255 characters");
            return;
        }
        try (Connection conn = Database.connect(app.settings);
                PreparedStatement st = conn.prepareStatement(
                        "INSERT INTO vehicles (id, name, written_by_version) VALUES (?, ?, ?)"
                        + " ON DUPLICATE KEY UPDATE name = VALUES(name), written_by_version = VALUES(written_by_version)")) {
            st.setString(1, id);
            st.setString(2, name);
            st.setString(3, app.version);
            st.executeUpdate();
        } catch (SQLException | IOException e) {
            unavailable(resp, app, e);
            return;
        }
        Map<String, Object> body = Json.object("id", id, "name", name, "written_by_version", app.version);
        Json.send(resp, 200, body);
    }

    private static void unavailable(HttpServletResponse resp, App app, Exception e) throws IOException {
        Settings s = app.settings;
        String where = s.databaseProblem() == null ? "MariaDB at " + s.dbHost + ":" + s.dbPort + "/" + s.dbName + ": " : "";
        Json.error(resp, 503, where + Json.reason(e));
    }
}
