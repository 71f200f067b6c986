using System;
using System.Data.Common;
using System.Globalization;

namespace GridAutomation.Core.State
{
    /// <summary>Which database a store keeps its tables in; a component picks its SQL (DDL, dialect) by it.</summary>
    public enum StateBackend
    {
        Sqlite,
        PostgreSql,
    }

    /// <summary>
    /// One connection of a state store, handed to the work of <see cref="IStateStore.Read{T}"/> or
    /// <see cref="IStateStore.Write{T}"/>. Under a write every command is enlisted in the one transaction of that
    /// write. Parameters are written <c>$name</c> in the SQL and bound by <see cref="StateSessionExtensions.Bind"/>
    /// with the same name; each backend maps them to its own placeholders.
    /// </summary>
    public interface IStateSession
    {
        StateBackend Backend { get; }
        /// <summary>True inside a write (the commands are part of its transaction).</summary>
        bool InTransaction { get; }
        /// <summary>A command on this session's connection (and transaction, when writing). The caller disposes it.</summary>
        DbCommand Command(string sql);
    }

    /// <summary>Helpers over <see cref="IStateSession"/>: backend-neutral binding and one-line statements.</summary>
    public static class StateSessionExtensions
    {
        /// <summary>Binds <paramref name="value"/> (null = SQL NULL) to the parameter <c>$name</c> (the prefix is optional).</summary>
        public static DbCommand Bind(this DbCommand cmd, string name, object? value)
        {
            if (cmd == null) throw new ArgumentNullException(nameof(cmd));
            var p = cmd.CreateParameter();
            p.ParameterName = name.TrimStart('$', '@', ':');
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
            return cmd;
        }

        private static DbCommand Prepare(IStateSession s, string sql, (string name, object? value)[] args)
        {
            var cmd = s.Command(sql);
            foreach (var (n, v) in args) cmd.Bind(n, v);
            return cmd;
        }

        /// <summary>Runs a statement; returns the number of rows it changed.</summary>
        public static int Execute(this IStateSession s, string sql, params (string name, object? value)[] args)
        {
            using var cmd = Prepare(s, sql, args);
            return cmd.ExecuteNonQuery();
        }

        /// <summary>The first column of the first row, or null (no row, or SQL NULL).</summary>
        public static object? Scalar(this IStateSession s, string sql, params (string name, object? value)[] args)
        {
            using var cmd = Prepare(s, sql, args);
            var v = cmd.ExecuteScalar();
            return v is DBNull ? null : v;
        }

        /// <summary>The first column of the first row as a 64-bit integer (0 when none).</summary>
        public static long ScalarInt64(this IStateSession s, string sql, params (string name, object? value)[] args)
        {
            var v = s.Scalar(sql, args);
            return v == null ? 0 : Convert.ToInt64(v, CultureInfo.InvariantCulture);
        }
    }
}
