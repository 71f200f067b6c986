// Xen Orchestra's XAPI client (npm xen-api 4.7.6, by Vates) against the tests' loopback XAPI.
// On connect it calls session.login_with_password, pool.get_all_records and system.listMethods, then runs the
// event loop (event.inject, get_all_records of every type, event.from). We list VMs and run Async.VM.start
// to completion through its task (followed by the client through events), then print one JSON line.
// Usage: node conformance.mjs <url> <user> <password>
import { createClient } from 'xen-api'

const [url, user, password] = process.argv.slice(2)
const out = { connected: false }
const timer = setTimeout(() => { console.log(JSON.stringify({ ...out, error: 'timeout' })); process.exit(3) }, 60000)
const xapi = createClient({ url, auth: { user, password }, allowUnauthorized: true, debounce: 20 })
try {
  await xapi.connect()
  out.connected = true
  out.pool = xapi.pool.name_label
  await xapi.objectsFetched
  const records = await xapi.getAllRecords('VM')
  const guests = records.filter(vm => !vm.is_a_template && !vm.is_a_snapshot && !vm.is_control_domain)
  out.vmCount = guests.length
  out.cachedVmCount = Object.values(xapi.objects.all).filter(o => o.$type === 'VM' && !o.is_a_template && !o.is_a_snapshot && !o.is_control_domain).length
  out.states = guests.map(vm => vm.power_state).sort()
  const halted = guests.find(vm => vm.power_state === 'Halted')
  if (halted !== undefined) {
    out.started = halted.uuid
    out.taskResult = await xapi.callAsync('VM.start', halted.$ref, false, false)
    out.powerState = await xapi.getField('VM', halted.$ref, 'power_state')
    // a failing task comes back as the XAPI error, as the client reports it
    try {
      await xapi.callAsync('VM.start', halted.$ref, false, false)
    } catch (error) {
      out.secondStartError = error.code
      out.secondStartParams = error.params
    }
  }
  await xapi.disconnect()
  console.log(JSON.stringify(out))
  clearTimeout(timer)
  process.exit(0)
} catch (error) {
  console.log(JSON.stringify({ ...out, error: String(error), code: error?.code }))
  process.exit(2)
}
