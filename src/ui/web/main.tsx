import {render} from 'preact'
import 'uplot/dist/uPlot.min.css'

function App() {
  return <h1>ml</h1>
}

render(<App />, document.getElementById('app')!)
