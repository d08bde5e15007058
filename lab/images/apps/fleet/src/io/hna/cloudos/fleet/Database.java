package io.hna.cloudos.fleet;

import java.io.IOException;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

import org.mariadb.jdbc.Driver;

/**
 * Connections to MariaDB with MariaDB Connector/J (Debian's libmariadb-java). The driver is called
 * directly rather than through DriverManager, whose driver discovery does not see a web
 * application's own libraries. One short-lived connection per request keeps the demo simple.
 */
final class Database {

    private static final Driver DRIVER = new Driver();
    private static volatile boolean schemaReady;

    static final String SCHEMA = "CREATE TABLE IF NOT EXISTS vehicles ("
            + " id VARCHAR(64) NOT NULL PRIMARY KEY,"
            + " name VARCHAR(255) NOT NULL,"
            + " written_by_version VARCHAR(64) NOT NULL,"
            + " updated TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP"
            + ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

    private Database() {
    }

    /** A connection to DB_NAME with the vehicles table in place. */
    static Connection connect(Settings s) throws SQLException, IOException {
        String problem = s.databaseProblem();
        if (problem != null) {
            throw new IOException(problem);
        }
        Properties props = new Properties();
        props.setProperty("user", s.dbUser);
        props.setProperty("password", s.dbPassword());
        props.setProperty("connectTimeout", "2000");
        props.setProperty("socketTimeout", "5000");
        String host = s.dbHost.contains(":") ? "[" + s.dbHost + "]" : s.dbHost;
        Connection conn = DRIVER.connect("jdbc:mariadb://" + host + ":" + s.dbPort + "/" + s.dbName, props);
        if (!schemaReady) {
            try (Statement st = conn.createStatement()) {
                st.execute(SCHEMA);
                schemaReady = true;
            } catch (SQLException e) {
                conn.close();
                throw e;
            }
        }
        return conn;
    }
}
