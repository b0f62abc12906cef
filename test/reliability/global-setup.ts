import { clearFragments, writeReport } from './report';

/** Clears figures of an earlier run, and prints and writes this run's when it ends. */
export default function setup(): () => void {
  clearFragments();
  return () => {
    console.log(writeReport());
  };
}
